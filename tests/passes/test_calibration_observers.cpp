// Calibration observers against hand-derived counts and NumPy's numbers for a closed-form Laplace
// sample (tests/passes/calibration_reference.py prints them): min-max, the widening histogram,
// percentile, entropy (KL) and mse ranges, and state that does not grow with the samples.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "calibration/observer.h"

using namespace scalec;
using namespace scalec::calibration;

namespace {

// calibration_reference.py's sample: n Laplace(0, 1) quantiles, deterministic and closed-form.
std::vector<float> laplace(size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    double d = (static_cast<double>(i) + 0.5) / static_cast<double>(n) - 0.5;
    x[i] = static_cast<float>(-(d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0) * std::log(1 - 2 * std::fabs(d)));
  }
  return x;
}

// The same values in a scattered order (7919 is coprime to the sizes used; the extremes come
// after the first 35,000), so the first batches see a narrower range than the later ones.
std::vector<float> scattered(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[(i * 7919 + 12345) % x.size()];
  return y;
}

template <typename O>
void observe_in_batches(O& o, const std::vector<float>& x, size_t batch) {
  for (size_t b = 0; b < x.size(); b += batch) o.observe(std::span(x).subspan(b, std::min(batch, x.size() - b)));
}

// Mean squared error of fake-quantizing x symmetrically to `bits` with threshold t (the brute force
// calibration_reference.py minimizes).
double fake_quant_mse(const std::vector<float>& x, double t, int bits) {
  const double kmax = (1 << (bits - 1)) - 1, s = t / kmax;
  double e = 0;
  for (float v : x) {
    double q = std::clamp(std::nearbyint(v / s), -kmax, kmax) * s;
    e += (v - q) * (v - q);
  }
  return e / static_cast<double>(x.size());
}

constexpr double kLaplaceMax = 11.51293;  // max|x| of laplace(100000)

}  // namespace

TEST_CASE("calibration: min-max over several batches is the global min and max", "[calibration]") {
  MinMaxObserver o;
  CHECK(o.empty());
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (const auto& b : std::vector<std::vector<float>>{{1, -2, 3}, {0.5f}, {-7, 2}, {nan, inf, -inf}, {}}) o.observe(b);
  CHECK(o.min() == -7);
  CHECK(o.max() == 3);
  CHECK(o.count() == 6);
  CHECK(o.nonfinite() == 3);
  Range sym = minmax_range(o, true), asym = minmax_range(o, false);
  CHECK((sym.min == -7 && sym.max == 7));
  CHECK((asym.min == -7 && asym.max == 3));
  MinMaxObserver pos;
  pos.observe(std::vector<float>{2, 5});
  CHECK((minmax_range(pos, false).min == 2 && minmax_range(pos, false).max == 5));
}

TEST_CASE("calibration: histogram widening merges whole bins and keeps every count", "[calibration]") {
  Histogram h(8);
  h.observe(std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f, 8, -0.5f, -2.5f});
  CHECK(h.width() == 1);  // max|x| / bins
  CHECK(std::vector<uint64_t>(h.positive().begin(), h.positive().end()) == std::vector<uint64_t>{1, 1, 1, 1, 1, 1, 1, 2});
  CHECK(std::vector<uint64_t>(h.negative().begin(), h.negative().end()) == std::vector<uint64_t>{1, 0, 1, 0, 0, 0, 0, 0});
  h.observe(std::vector<float>{20, -10});  // needs 20 / 8 = 2.5 per bin: k = 3 old bins per new one
  CHECK(h.width() == 3);
  // By hand: bins of width 3 over the same values, as if they had been binned at width 3 at once.
  CHECK(std::vector<uint64_t>(h.positive().begin(), h.positive().end()) == std::vector<uint64_t>{3, 3, 3, 0, 0, 0, 1, 0});
  CHECK(std::vector<uint64_t>(h.negative().begin(), h.negative().end()) == std::vector<uint64_t>{2, 0, 0, 1, 0, 0, 0, 0});
  CHECK(h.total() == 13);
  CHECK(h.extremes().min() == -10);
  CHECK(h.extremes().max() == 20);

  Histogram zeros(8);  // zeros before any width is known land in bin 0
  zeros.observe(std::vector<float>{0, 0, 0});
  CHECK(zeros.width() == 0);
  zeros.observe(std::vector<float>{4, -1});
  CHECK(zeros.width() == 0.5);
  CHECK(zeros.positive()[0] == 3);
  CHECK(zeros.positive()[7] == 1);
  CHECK(zeros.negative()[2] == 1);
  CHECK(zeros.total() == 5);
}

TEST_CASE("calibration: a widened histogram equals direct binning at the final width", "[calibration]") {
  std::mt19937 gen(7);
  Histogram h(2048);
  std::vector<float> all;
  for (int b = 0; b < 40; ++b) {  // each batch up to 1.3x wider than the last
    std::uniform_real_distribution<float> dist(-std::pow(1.3f, static_cast<float>(b)), std::pow(1.3f, static_cast<float>(b)));
    std::vector<float> x(1000);
    for (float& v : x) v = dist(gen);
    h.observe(x);
    all.insert(all.end(), x.begin(), x.end());
  }
  CHECK(h.total() == all.size());
  std::vector<uint64_t> pos(2048, 0), neg(2048, 0);
  for (float v : all) {
    auto i = std::min<size_t>(2047, static_cast<size_t>(std::fabs(static_cast<double>(v)) / h.width()));
    ++(v < 0 ? neg : pos)[i];
  }
  CHECK(std::equal(pos.begin(), pos.end(), h.positive().begin()));
  CHECK(std::equal(neg.begin(), neg.end(), h.negative().begin()));
  CHECK(h.width() * 2048 >= h.extremes().max_abs());
}

TEST_CASE("calibration: percentile matches numpy within a bin width", "[calibration]") {
  const std::vector<float> x = laplace(100000);
  Histogram h;
  h.observe(x);
  const double w = h.width();
  CHECK(std::fabs(w - kLaplaceMax / 2048) < 1e-6);
  // np.percentile(|x|, p) and np.percentile(x, 100 - p), np.percentile(x, p)
  CHECK(std::fabs(percentile_range(h, 99.0, true).max - 4.604191) <= w);
  CHECK(std::fabs(percentile_range(h, 99.9, true).max - 6.897825) <= w);
  Range r = percentile_range(h, 99.99, true);
  CHECK(std::fabs(r.max - 9.11505) <= w);
  CHECK(r.min == -r.max);
  r = percentile_range(h, 99.99, false);
  CHECK(std::fabs(r.min + 8.468413) <= w);
  CHECK(std::fabs(r.max - 8.468413) <= w);
  r = percentile_range(h, 99.0, false);
  CHECK(std::fabs(r.min + 3.911533) <= w);
  CHECK(std::fabs(r.max - 3.911533) <= w);
  CHECK(percentile_range(h, 100, true).max == h.extremes().max_abs());

  // Streamed in batches whose range keeps widening: still within the (coarser) final bin width.
  Histogram hb;
  observe_in_batches(hb, scattered(x), 1000);
  CHECK(hb.total() == x.size());
  CHECK(hb.width() > w);
  CHECK(std::fabs(percentile_range(hb, 99.99, true).max - 9.11505) <= hb.width());
  r = percentile_range(hb, 99.0, false);
  CHECK(std::fabs(r.min + 3.911533) <= hb.width());
  CHECK(std::fabs(r.max - 3.911533) <= hb.width());

  // One-signed data: both cuts fall on the positive side.
  Histogram relu;
  std::vector<float> a(x.size());
  std::transform(x.begin(), x.end(), a.begin(), [](float v) { return std::fabs(v); });
  relu.observe(a);
  r = percentile_range(relu, 99.9, false);
  CHECK(r.min >= relu.extremes().min());
  CHECK(r.min < 0.01);  // the 0.1th percentile of |x|: about 0.001
  CHECK(std::fabs(r.max - 6.897825) <= relu.width());  // the 99.9th of |x|: one tail now holds 0.1%
}

TEST_CASE("calibration: entropy picks numpy's KL threshold below max on a heavy tail, max on uniform", "[calibration]") {
  const std::vector<float> x = laplace(100000);
  Histogram h;
  h.observe(x);
  Range r = entropy_range(h, 8, true);
  // calibration_reference.py's numpy KL search on the same 2048-bin |x| histogram: 9.910785
  CHECK(std::fabs(r.max - 9.910785) <= 2 * h.width());
  CHECK(r.max < kLaplaceMax - 1);
  CHECK(r.min == -r.max);

  std::vector<float> u(100000);
  for (size_t i = 0; i < u.size(); ++i) u[i] = -1 + 2 * (static_cast<float>(i) + 0.5f) / static_cast<float>(u.size());
  Histogram hu;
  hu.observe(u);
  CHECK(entropy_range(hu, 8, true).max == hu.extremes().max_abs());

  // Asymmetric on one-signed data: the lower end stays the minimum, the upper one is clipped.
  std::vector<float> a(x.size());
  std::transform(x.begin(), x.end(), a.begin(), [](float v) { return std::fabs(v); });
  Histogram relu;
  relu.observe(a);
  r = entropy_range(relu, 8, false);
  CHECK(r.min == relu.extremes().min());
  CHECK(r.max < kLaplaceMax - 1);
  CHECK(r.max > 5);
}

TEST_CASE("calibration: entropy is not pulled down by point masses, and asymmetric shares the |x| threshold",
          "[calibration]") {
  // A Conv output over blank image regions: every such pixel equals its channel's bias, so a few
  // values repeat thousands of times. Here laplace(100000) plus 20,000 copies each of 0.5, 1 and 2.
  // Without flattening them the KL search clipped at 2.87 (symmetric) and, searching the positive
  // side alone, 2.87 for --asymmetric; without them the threshold is 9.91.
  std::vector<float> x = laplace(100000);
  for (float spike : {0.5f, 1.0f, 2.0f}) x.insert(x.end(), 20000, spike);
  Histogram h;
  h.observe(x);
  const Range sym = entropy_range(h, 8, true);
  CHECK(sym.max > 9);
  CHECK(sym.max < kLaplaceMax - 1);
  // Asymmetric on two-signed data: the |x| threshold cut to [min, max] (here both ends), not
  // each side searched alone.
  const Range asym = entropy_range(h, 8, false);
  CHECK(asym.max == sym.max);
  CHECK(asym.min == -sym.max);

  // One-signed (a ReLU output: zeros, the positive half, point masses): all levels on one side.
  std::vector<float> relu(50000, 0.0f);
  for (float v : laplace(100000)) relu.push_back(std::fabs(v));
  for (float spike : {0.5f, 1.0f, 2.0f}) relu.insert(relu.end(), 20000, spike);
  Histogram hr;
  hr.observe(relu);
  const Range r = entropy_range(hr, 8, false);
  CHECK(r.min == 0);
  CHECK(r.max > 9);  // 4.31 without flattening
  CHECK(r.max < kLaplaceMax);
}

TEST_CASE("calibration: mse finds the brute-force optimum and clips outliers", "[calibration]") {
  const std::vector<float> x = laplace(100000);
  Histogram h;
  h.observe(x);
  // calibration_reference.py: brute force over thresholds on the samples themselves.
  struct Case {
    int bits;
    double best_t, best_mse;
  };
  for (Case c : {Case{8, 9.781489, 0.0005624597}, Case{4, 4.817664, 0.054677}}) {
    Range r = mse_range(h, c.bits, true);
    CAPTURE(c.bits, r.max);
    CHECK(r.min == -r.max);
    CHECK(std::fabs(r.max - c.best_t) < 0.05 * c.best_t);
    CHECK(fake_quant_mse(x, r.max, c.bits) <= 1.01 * c.best_mse);
  }
  // 10 outliers at +-100: at 4 bits keeping them costs more than clipping them (numpy's brute
  // force: 6.591797, mse 0.947, against 4.817664 without them).
  std::vector<float> xo = x;
  for (int i = 0; i < 5; ++i) xo.insert(xo.end(), {100.0f, -100.0f});
  Histogram ho;
  observe_in_batches(ho, scattered(xo), 4096);
  const double t_out = mse_range(ho, 4, true).max;
  CAPTURE(t_out);
  CHECK(std::fabs(t_out - 6.591797) < 0.05 * 6.591797);
  CHECK(fake_quant_mse(xo, t_out, 4) <= 1.01 * 0.947);
  CHECK(mse_range(ho, 8, true).max > 90);  // at 8 bits the steps are fine enough to keep them

  // Asymmetric, one-signed: min stays the data's minimum, max is searched.
  std::vector<float> a(x.size());
  std::transform(x.begin(), x.end(), a.begin(), [](float v) { return std::fabs(v); });
  Histogram relu;
  relu.observe(a);
  Range r = mse_range(relu, 4, false);
  CHECK(r.min == relu.extremes().min());
  CHECK(r.max < 10);
  CHECK(r.max > 2);
}

TEST_CASE("calibration: observer state does not grow with the samples", "[calibration]") {
  const std::vector<float> x = laplace(100000);
  for (Method m : {Method::kMinMax, Method::kPercentile, Method::kEntropy, Method::kMse}) {
    CalibrationOptions options;
    options.method = m;
    auto small = make_observer(options), large = make_observer(options);
    small->observe(std::span(x).first(100));
    observe_in_batches(*large, scattered(x), 1000);
    CAPTURE(method_name(m));
    CHECK(small->state_bytes() == large->state_bytes());
    CHECK(large->count() == 100000);
    CHECK(large->state_bytes() < 40000);  // two 2048-bin uint64 sides and the extremes
    const Range r = large->range();
    CHECK(r.min < 0);
    CHECK(r.max > 0);
  }
}

TEST_CASE("calibration: all-zero and empty observations give a zero range", "[calibration]") {
  for (Method m : {Method::kMinMax, Method::kPercentile, Method::kEntropy, Method::kMse}) {
    CalibrationOptions options;
    options.method = m;
    auto o = make_observer(options);
    CHECK((o->range().min == 0 && o->range().max == 0));
    o->observe(std::vector<float>(10, 0.0f));
    CHECK((o->range().min == 0 && o->range().max == 0));
  }
}
