// Observers: the running min/max, the zero-anchored histogram that widens by merging bins, and
// the Observer wrappers the Calibrator holds (one per value).
#include "calibration/observer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/error.h"

namespace scalec::calibration {

void MinMaxObserver::observe(std::span<const float> x) {
  float lo = min_, hi = max_;
  int64_t n = 0, bad = 0;
  if (count_ == 0) {
    lo = std::numeric_limits<float>::infinity();
    hi = -lo;
  }
  for (float v : x) {
    if (!std::isfinite(v)) {
      ++bad;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    ++n;
  }
  nonfinite_ += bad;
  if (n == 0) return;
  min_ = lo;
  max_ = hi;
  count_ += n;
}

float MinMaxObserver::max_abs() const { return std::max(std::fabs(min_), std::fabs(max_)); }

Histogram::Histogram(int bins) {
  if (bins < 8) throw_bad_input("a calibration histogram needs at least 8 bins, not {}", bins);
  pos_.assign(static_cast<size_t>(bins), 0);
  neg_.assign(static_cast<size_t>(bins), 0);
}

void Histogram::widen_to(double max_abs) {
  const size_t n = pos_.size();
  const double covered = static_cast<double>(n) * width_;
  double kd = std::max(2.0, std::ceil(max_abs / covered));
  while (covered * kd < max_abs) kd += 1;  // ceil's rounding
  // k >= n folds everything into bin 0 (and keeps k * n from overflowing on absurd ranges).
  const size_t k = kd >= static_cast<double>(n) ? n : static_cast<size_t>(kd);
  for (std::vector<uint64_t>* side : {&pos_, &neg_}) {
    std::vector<uint64_t>& h = *side;
    for (size_t j = 0; j < n; ++j) {
      uint64_t sum = 0;
      for (size_t i = j * k; i < std::min(n, j * k + k); ++i) sum += h[i];
      h[j] = sum;  // j <= j*k, so bins still to be read are not overwritten
    }
  }
  width_ *= kd;
}

void Histogram::observe(std::span<const float> x) {
  minmax_.observe(x);
  double batch_max = 0;
  for (float v : x) {
    if (std::isfinite(v)) batch_max = std::max(batch_max, static_cast<double>(std::fabs(v)));
  }
  const size_t n = pos_.size();
  if (width_ == 0 && batch_max > 0) {
    width_ = batch_max / static_cast<double>(n);
  } else if (batch_max > static_cast<double>(n) * width_) {
    widen_to(batch_max);
  }
  if (width_ == 0) {  // only zeros so far: they belong to bin 0 whatever the width becomes
    for (float v : x) pos_[0] += (v == 0.0f) ? 1u : 0u;
    return;
  }
  const double inv = 1.0 / width_;
  for (float v : x) {
    if (!std::isfinite(v)) continue;
    auto i = static_cast<size_t>(static_cast<double>(std::fabs(v)) * inv);
    i = std::min(i, n - 1);
    ++(v < 0 ? neg_ : pos_)[i];
  }
}

std::vector<uint64_t> Histogram::magnitude() const {
  std::vector<uint64_t> m(pos_.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = pos_[i] + neg_[i];
  return m;
}

uint64_t Histogram::total() const {
  uint64_t t = 0;
  for (size_t i = 0; i < pos_.size(); ++i) t += pos_[i] + neg_[i];
  return t;
}

size_t Histogram::state_bytes() const { return sizeof(*this) + (pos_.capacity() + neg_.capacity()) * sizeof(uint64_t); }

Range minmax_range(const MinMaxObserver& o, bool symmetric) {
  if (o.empty()) return {};
  if (symmetric) return {-o.max_abs(), o.max_abs()};
  return {o.min(), o.max()};
}

namespace {

class MinMaxRangeObserver final : public Observer {
 public:
  explicit MinMaxRangeObserver(bool symmetric) : symmetric_(symmetric) {}
  void observe(std::span<const float> x) override { o_.observe(x); }
  Range range() const override { return minmax_range(o_, symmetric_); }
  size_t state_bytes() const override { return sizeof(*this); }
  int64_t nonfinite() const override { return o_.nonfinite(); }
  int64_t count() const override { return o_.count(); }

 private:
  MinMaxObserver o_;
  bool symmetric_;
};

class HistogramRangeObserver final : public Observer {
 public:
  explicit HistogramRangeObserver(const CalibrationOptions& options)
      : options_(options), h_(options.histogram_bins) {}
  void observe(std::span<const float> x) override { h_.observe(x); }
  Range range() const override {
    switch (options_.method) {
      case Method::kPercentile: return percentile_range(h_, options_.percentile, options_.symmetric);
      case Method::kEntropy: return entropy_range(h_, options_.bits, options_.symmetric);
      case Method::kMse: return mse_range(h_, options_.bits, options_.symmetric);
      case Method::kMinMax: break;
    }
    return minmax_range(h_.extremes(), options_.symmetric);
  }
  size_t state_bytes() const override { return sizeof(*this) - sizeof(h_) + h_.state_bytes(); }
  int64_t nonfinite() const override { return h_.nonfinite(); }
  int64_t count() const override { return h_.extremes().count(); }

 private:
  CalibrationOptions options_;
  Histogram h_;
};

}  // namespace

std::unique_ptr<Observer> make_observer(const CalibrationOptions& options) {
  if (options.method == Method::kMinMax) return std::make_unique<MinMaxRangeObserver>(options.symmetric);
  return std::make_unique<HistogramRangeObserver>(options);
}

}  // namespace scalec::calibration
