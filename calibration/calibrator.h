#pragma once
// Calibrator: runs a model forward over calibration batches with taps on the values it observes,
// feeding each tensor to a streaming Observer; memory stays bounded whatever the sample count.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/exec/executor.h"

namespace scalec::calibration {

/// How an observed tensor's distribution becomes a clip range.
enum class Method { kMinMax, kPercentile, kEntropy, kMse };

/// "minmax", "percentile", "entropy", "mse" -> Method; Error(kBadInput) lists the choices otherwise.
Method parse_method(const std::string& text);
std::string method_name(Method m);

/// A calibrated real-valued clip range [min, max] (min <= 0 <= max is not required).
struct Range {
  float min = 0, max = 0;
};

/// What to calibrate and how.
struct CalibrationOptions {
  Method method = Method::kMinMax;
  double percentile = 99.99;   ///< kPercentile: the percentile of |x| (symmetric) or of each tail
  int bits = 8;                ///< target bit width (entropy and mse search the range for it)
  bool symmetric = true;       ///< symmetric ranges (-a, a) for signed activations
  int64_t batch = 32;          ///< rows per Executor run
  int threads = 0;              ///< Executor threads (0: the CPUs this process may use)
  int histogram_bins = 2048;    ///< bins per sign of the percentile/entropy/mse histograms
};

/// Calibration batches: a sample count and a function cutting rows [begin, end) into model feeds.
struct BatchSource {
  int64_t samples = 0;
  std::function<kernels::NamedTensors(int64_t begin, int64_t end)> batch;
};

/// Ranges per value name, plus what calibration cost.
struct CalibrationResult {
  std::map<std::string, Range> ranges;
  int64_t samples = 0;
  size_t observer_bytes = 0;           ///< memory the observers hold (bounded, independent of samples)
  size_t peak_activation_bytes = 0;    ///< the Executor's largest live set over all batches
  /// NaN/Inf elements per value, where any were seen: they are left out of the statistics.
  std::map<std::string, int64_t> nonfinite;
};

/// Runs `model` over `data` and returns the calibrated range of every float value named in
/// `values` (main-graph values: inputs or node outputs). A name that is missing, an initializer
/// or not of a float type is refused (Error kBadInput, naming it). Histogram methods depend on how
/// the first batches set the bin width, so only minmax is exactly independent of `options.batch`.
CalibrationResult calibrate(const ir::Model& model, const std::vector<std::string>& values, const BatchSource& data,
                            const CalibrationOptions& options);

}  // namespace scalec::calibration
