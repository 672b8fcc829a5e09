#pragma once
// Streaming observers: each sees one value's tensors batch after batch and keeps bounded state
// (a running min/max, or a fixed-size histogram), then turns what it saw into a clip Range.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "calibration/calibrator.h"

namespace scalec::calibration {

/// Bins per sign of the histogram observers (TensorRT's entropy calibrator uses 2048 over |x|).
inline constexpr int kDefaultHistogramBins = 2048;

/// Running min and max of the finite elements observed; NaN and Inf are counted, not observed.
class MinMaxObserver {
 public:
  /// Folds `x` into the running min and max.
  void observe(std::span<const float> x);
  /// True until a finite element has been observed.
  bool empty() const { return count_ == 0; }
  float min() const { return min_; }
  float max() const { return max_; }
  /// max(|min|, |max|).
  float max_abs() const;
  int64_t count() const { return count_; }
  int64_t nonfinite() const { return nonfinite_; }

 private:
  float min_ = 0, max_ = 0;
  int64_t count_ = 0, nonfinite_ = 0;
};

/// A zero-anchored histogram of |x| kept separately for x >= 0 and x < 0: `bins` bins of one
/// width w per sign, covering [-bins*w, bins*w]. When a batch goes past the covered range, w grows
/// by the smallest integer factor k that covers it and every k neighbouring bins merge into one:
/// counts stay exact (no interpolation, unlike ONNX Runtime's re-histogramming of bin centres) and
/// the state stays fixed (unlike ONNX Runtime and TensorRT, which add bins as the range widens).
/// Zero stays a bin edge, so the ranges derived from it always represent 0 exactly.
class Histogram {
 public:
  explicit Histogram(int bins = kDefaultHistogramBins);
  /// Adds the finite elements of `x`; the first non-zero element sets the initial bin width.
  void observe(std::span<const float> x);

  int bins() const { return static_cast<int>(pos_.size()); }
  /// Bin width w (0 until a non-zero element arrives).
  double width() const { return width_; }
  /// Counts of x >= 0 in [i*w, (i+1)*w) (zeros in bin 0; the last bin also holds its upper edge).
  std::span<const uint64_t> positive() const { return pos_; }
  /// Counts of x < 0 with -x in [i*w, (i+1)*w).
  std::span<const uint64_t> negative() const { return neg_; }
  /// Counts of |x|: positive()[i] + negative()[i].
  std::vector<uint64_t> magnitude() const;
  /// Exact extremes of what was observed.
  const MinMaxObserver& extremes() const { return minmax_; }
  /// Finite elements observed.
  uint64_t total() const;
  int64_t nonfinite() const { return minmax_.nonfinite(); }
  /// Bytes of state (fixed by the bin count).
  size_t state_bytes() const;

 private:
  void widen_to(double max_abs);
  std::vector<uint64_t> pos_, neg_;
  double width_ = 0;
  MinMaxObserver minmax_;
};

/// [min, max], or [-a, a] with a = max|x| when `symmetric`.
Range minmax_range(const MinMaxObserver& o, bool symmetric);
/// Symmetric: [-t, t] with t the `percentile` of |x|; otherwise each tail cut at its own
/// percentile of x ((100 - p)% below min, (100 - p)% above max). Linear within a bin.
Range percentile_range(const Histogram& h, double percentile, bool symmetric);
/// The clip threshold of least KL divergence between the |x| histogram and its `bits`-bit
/// quantization (TensorRT's entropy calibration; see range_search.cpp for the exact variant);
/// asymmetric: that threshold cut to [min, max].
Range entropy_range(const Histogram& h, int bits, bool symmetric);
/// The clip range of least expected squared quantization error for `bits` bits, assuming values
/// spread uniformly within each bin.
Range mse_range(const Histogram& h, int bits, bool symmetric);

/// One value's observer: what the Calibrator feeds and asks for a range.
class Observer {
 public:
  virtual ~Observer() = default;
  /// Folds one batch of the value's elements in.
  virtual void observe(std::span<const float> x) = 0;
  /// The calibrated range of everything observed so far.
  virtual Range range() const = 0;
  /// Bytes of observer state (independent of the number of samples).
  virtual size_t state_bytes() const = 0;
  /// NaN and Inf elements seen (not observed).
  virtual int64_t nonfinite() const = 0;
  /// Finite elements observed.
  virtual int64_t count() const = 0;
};

/// The observer `options.method` needs: min-max, or a histogram for percentile, entropy and mse.
std::unique_ptr<Observer> make_observer(const CalibrationOptions& options);

}  // namespace scalec::calibration
