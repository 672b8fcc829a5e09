// Clip ranges from a Histogram: percentile, entropy (KL divergence) and mse searches.
// Bin i of a side covers magnitudes [i*w, (i+1)*w); the last non-empty bin of a side is cut at
// the side's exact extreme, which the histogram keeps beside the counts.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "calibration/observer.h"
#include "ir/error.h"

namespace scalec::calibration {

namespace {

using Counts = std::vector<uint64_t>;

// One past the last non-empty bin (0 when all are empty).
size_t used_bins(std::span<const uint64_t> h) {
  size_t n = h.size();
  while (n > 0 && h[n - 1] == 0) --n;
  return n;
}

// The magnitude m at which the counts of `h` (bins of width w, ascending) reach `target`,
// linear within the bin that crosses it.
double magnitude_at(std::span<const uint64_t> h, double w, double target) {
  double cum = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    double c = static_cast<double>(h[i]);
    // (1 - 1e-12): p / 100 * total can round just above a whole count, which would skip a bin.
    if (c > 0 && cum + c >= target * (1 - 1e-12)) return (static_cast<double>(i) + std::max(0.0, target - cum) / c) * w;
    cum += c;
  }
  return static_cast<double>(h.size()) * w;
}

// The x at which the signed CDF (negative bins from the most negative up, then positive bins)
// reaches `target` counts, linear within the bin that crosses it.
double signed_quantile(const Histogram& h, double target) {
  const double w = h.width();
  const auto neg = h.negative(), pos = h.positive();
  double cum = 0;
  for (size_t i = neg.size(); i-- > 0;) {  // x in [-(i+1)w, -iw)
    double c = static_cast<double>(neg[i]);
    if (c > 0 && cum + c >= target * (1 - 1e-12)) return -(static_cast<double>(i + 1) - std::max(0.0, target - cum) / c) * w;
    cum += c;
  }
  return magnitude_at(pos, w, target - cum);
}

// MXNet's _smooth_distribution (also in ONNX Runtime): moves eps of mass onto every empty bin so
// KL(P||Q) stays finite where Q is empty; false when the distribution has no mass at all.
bool smooth(std::vector<double>& p) {
  constexpr double kEps = 1e-4;
  size_t zeros = 0;
  for (double v : p) zeros += v == 0 ? 1 : 0;
  if (zeros == p.size()) return false;
  const double take = kEps * static_cast<double>(zeros) / static_cast<double>(p.size() - zeros);
  for (double& v : p) v += v == 0 ? kEps : -take;
  return true;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0, sq = 0;
  for (size_t j = 0; j < p.size(); ++j) {
    sp += p[j];
    sq += q[j];
  }
  double kl = 0;
  for (size_t j = 0; j < p.size(); ++j) {
    if (p[j] <= 0) continue;
    if (q[j] <= 0) return std::numeric_limits<double>::infinity();
    kl += p[j] / sp * std::log((p[j] / sp) / (q[j] / sq));
  }
  return kl;
}

// TensorRT's entropy calibration over one magnitude histogram (NVIDIA, "8-bit Inference with
// TensorRT", GTC 2017), in the form MXNet and ONNX Runtime implement it: for each candidate of
// i bins (levels..used), P = the first i bins with everything beyond added to bin i-1; Q = the
// first i bins (without that tail) merged into `levels` groups, each group's count spread evenly
// over the bins where P is non-zero; both smoothed (eps 1e-4); the threshold is i*w at least
// KL(P||Q), the first such i on ties. Returns the side's extreme when it spans <= `levels` bins.
// Point masses are cut down first. Q spreads a group's count evenly over its bins, so a point
// mass costs about p*log(bins merged) and the search shrinks the threshold to keep it resolved,
// though a point mass quantizes no worse than any other value. Bin 0 counts as bin 1 (as NVIDIA's
// pytorch-quantization does): the exact zeros a ReLU emits (a Fashion-MNIST LeNet lost 10.7
// points with its ReLU outputs clipped at 1/8 of their range). Any other bin is cut to 4 standard
// deviations (Poisson) above its larger neighbour m, m + 4*sqrt(m + 1), which no bin of a smooth
// density reaches (the Laplace test's threshold is unchanged): the same LeNet's per-channel biases
// over blank background are four point masses (4.5% of the values each) that clipped its first
// ReLU output at 0.46 of 3.87 once bias correction had moved them (77.02% top-1, fp32 88.20%).
double entropy_threshold(std::span<const uint64_t> histogram, double w, double extreme, size_t levels) {
  std::vector<uint64_t> counts(histogram.begin(), histogram.end());
  if (counts.size() > 1) counts[0] = counts[1];
  for (size_t j = 1; j + 1 < counts.size(); ++j) {
    const auto m = static_cast<double>(std::max(j == 1 ? counts[0] : histogram[j - 1], histogram[j + 1]));
    counts[j] = std::min(histogram[j], static_cast<uint64_t>(std::ceil(m + 4 * std::sqrt(m + 1))));
  }
  const std::span<const uint64_t> h(counts);
  const size_t used = used_bins(h);
  if (used <= levels) return extreme;
  double tail = 0;
  for (size_t j = levels; j < used; ++j) tail += static_cast<double>(h[j]);
  double best = std::numeric_limits<double>::infinity();
  size_t best_i = used;
  std::vector<double> p, q;
  for (size_t i = levels; i <= used; ++i) {
    p.assign(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(i));
    if (i > levels) tail -= static_cast<double>(h[i - 1]);  // tail = counts of bins >= i
    p[i - 1] += tail;
    q.assign(i, 0.0);
    const size_t merged = i / levels;
    for (size_t g = 0; g < levels; ++g) {
      const size_t start = g * merged, stop = g + 1 == levels ? i : start + merged;
      double total = 0;
      size_t nonzero = 0;
      for (size_t j = start; j < stop; ++j) {
        total += static_cast<double>(h[j]);
        nonzero += p[j] != 0 ? 1 : 0;
      }
      if (nonzero == 0) continue;
      for (size_t j = start; j < stop; ++j) q[j] = p[j] != 0 ? total / static_cast<double>(nonzero) : 0;
    }
    double kl = std::numeric_limits<double>::infinity();
    if (smooth(p) && smooth(q)) kl = kl_divergence(p, q);
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  return std::min(static_cast<double>(best_i) * w, extreme);
}

// Expected (x - Q(x))^2 for x uniform on [a, b] (a single point when b <= a), where
// Q(x) = s * clamp(round(x / s), kmin, kmax): the exact integral over the quantization cells.
double bin_error(double a, double b, double s, double kmin, double kmax) {
  auto level = [&](double x) { return std::clamp(std::floor(x / s + 0.5), kmin, kmax); };
  if (b <= a) {
    double e = a - s * level(a);
    return e * e;
  }
  const double k0 = level(a), k1 = level(b);
  double integral = 0;
  for (double k = k0; k <= k1; k += 1) {
    const double lo = k == k0 ? a : s * (k - 0.5), hi = k == k1 ? b : s * (k + 0.5), q = s * k;
    integral += ((hi - q) * (hi - q) * (hi - q) - (lo - q) * (lo - q) * (lo - q)) / 3;
  }
  return integral / (b - a);
}

// Sum over the bins of one side of count * expected error; `sign` -1 for the negative side.
// The side's last bin is cut at its extreme |x|.
double side_error(std::span<const uint64_t> h, double w, double extreme, double sign, double s, double kmin,
                  double kmax) {
  double total = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    if (h[i] == 0) continue;
    double a = static_cast<double>(i) * w, b = std::min(a + w, extreme);
    a = std::min(a, b);
    total += static_cast<double>(h[i]) * (sign > 0 ? bin_error(a, b, s, kmin, kmax) : bin_error(-b, -a, s, kmin, kmax));
  }
  return total;
}

// The candidate of least cost among `count` candidates (candidate(c) for c in [0, count)): a scan
// at a stride that keeps it to about 256 evaluations, then every candidate around the best one.
template <typename Cost>
size_t argmin_scan(size_t count, Cost cost) {
  const size_t stride = std::max<size_t>(1, count / 256);
  size_t best = count - 1;
  double best_cost = cost(best);
  auto visit = [&](size_t c) {
    double e = cost(c);
    if (e < best_cost) {
      best_cost = e;
      best = c;
    }
  };
  for (size_t c = 0; c < count; c += stride) visit(c);
  const size_t center = best;
  for (size_t c = center - std::min(center, stride); c <= std::min(count - 1, center + stride); ++c) visit(c);
  return best;
}

}  // namespace

Range percentile_range(const Histogram& h, double percentile, bool symmetric) {
  const MinMaxObserver& mm = h.extremes();
  if (mm.empty() || h.width() == 0 || percentile >= 100) return minmax_range(mm, symmetric);
  const double total = static_cast<double>(h.total()), w = h.width();
  if (symmetric) {
    Counts mag = h.magnitude();
    auto t = static_cast<float>(std::min(magnitude_at(mag, w, percentile / 100 * total), double{mm.max_abs()}));
    return {-t, t};
  }
  // Each tail holds (100 - p)% of the counts: lo and hi are where the signed CDF reaches them.
  const double tail = (1 - std::max(percentile, 100 - percentile) / 100) * total;
  auto lo = static_cast<float>(signed_quantile(h, tail)), hi = static_cast<float>(signed_quantile(h, total - tail));
  return {std::clamp(lo, mm.min(), mm.max()), std::clamp(hi, mm.min(), mm.max())};
}

Range entropy_range(const Histogram& h, int bits, bool symmetric) {
  const MinMaxObserver& mm = h.extremes();
  if (mm.empty() || h.width() == 0) return minmax_range(mm, symmetric);
  const size_t half = size_t{1} << (bits - 1);
  if (symmetric) {
    auto t = static_cast<float>(entropy_threshold(h.magnitude(), h.width(), mm.max_abs(), half));
    return {-t, t};
  }
  // Asymmetric: the |x| threshold of the symmetric search cut to [min, max], as ONNX Runtime does;
  // a one-signed tensor (a ReLU output) gets all 2^bits levels, a two-signed one about half per
  // side. Each side searched alone (as before) saw half the samples and clipped Fashion LeNet's
  // first Conv output at 1.10 of 3.87 on the positive side, where the bias point masses sit
  // (86.70% top-1, 88.17% with asymmetric minmax); with those masses cut the two agree on the
  // CNNs, and on transformer_block the pooled search is closer to fp32 (3.87e-4 relative output
  // error against 3.99e-4).
  const bool has_pos = mm.max() > 0, has_neg = mm.min() < 0;
  const size_t levels = has_pos && has_neg ? half : 2 * half;
  const double t = entropy_threshold(h.magnitude(), h.width(), mm.max_abs(), levels);
  return {static_cast<float>(std::max(double{mm.min()}, -t)), static_cast<float>(std::min(double{mm.max()}, t))};
}

Range mse_range(const Histogram& h, int bits, bool symmetric) {
  const MinMaxObserver& mm = h.extremes();
  if (mm.empty() || h.width() == 0) return minmax_range(mm, symmetric);
  const double w = h.width();
  if (symmetric) {
    // Signed grid s*k, k in [-(2^(b-1)-1), 2^(b-1)-1] with s = t / (2^(b-1)-1), as TensorRT scales;
    // it is symmetric, so |x| carries the whole error.
    const Counts mag = h.magnitude();
    const double kmax = static_cast<double>((1 << (bits - 1)) - 1), extreme = mm.max_abs();
    const size_t used = used_bins(mag);
    auto threshold = [&](size_t c) { return std::min(static_cast<double>(c + 1) * w, extreme); };  // c+1 bins
    size_t best = argmin_scan(used, [&](size_t c) { return side_error(mag, w, extreme, 1, threshold(c) / kmax, 0, kmax); });
    auto t = static_cast<float>(threshold(best));
    return {-t, t};
  }
  // Asymmetric: grid s*(k - z), k in [0, 2^b - 1], over [lo, hi] widened to hold 0 (as the
  // quantize pass does); lo and hi are searched in turn (coordinate descent, at most 4 rounds).
  const double qmax = static_cast<double>((1 << bits) - 1);
  const double max_pos = std::max(double{mm.max()}, 0.0), max_neg = std::max(-double{mm.min()}, 0.0);
  auto cost = [&](double lo, double hi) {
    const double s = (hi - lo) / qmax, z = std::floor(-lo / s + 0.5);
    return side_error(h.positive(), w, max_pos, 1, s, -z, qmax - z) +
           side_error(h.negative(), w, max_neg, -1, s, -z, qmax - z);
  };
  const size_t used_pos = used_bins(h.positive()), used_neg = used_bins(h.negative());
  auto cand_pos = [&](size_t c) { return std::min(static_cast<double>(c + 1) * w, max_pos); };
  auto cand_neg = [&](size_t c) { return -std::min(static_cast<double>(c + 1) * w, max_neg); };
  double lo = -max_neg, hi = max_pos;
  for (int round = 0; round < 4; ++round) {
    const double old_lo = lo, old_hi = hi;
    if (max_pos > 0) hi = cand_pos(argmin_scan(used_pos, [&](size_t c) { return cost(lo, cand_pos(c)); }));
    if (max_neg > 0) lo = cand_neg(argmin_scan(used_neg, [&](size_t c) { return cost(cand_neg(c), hi); }));
    if (lo == old_lo && hi == old_hi) break;
  }
  // A side without data keeps its observed extreme (a ReLU output's min stays 0 or above).
  return {max_neg > 0 ? static_cast<float>(lo) : mm.min(), max_pos > 0 ? static_cast<float>(hi) : mm.max()};
}

}  // namespace scalec::calibration
