#pragma once
// bias-correction: after weight quantization W -> Wq, a layer's output mean shifts by
// E[(W - Wq) x]; adding that shift to the bias (per output channel) removes it (Nagel et al. 2019,
// "Data-Free Quantization", empirical variant: E[x] measured on calibration data).
//
//   Before: y = W x + B           After: y = W x + B',  B'[m] = B[m] + sum_(c,k) (W - Wq)[m, c, k] * E[x_c]
//
// so that the quantized layer Wq x + B' has the float layer's mean output. Wq is what the
// quantization pass will compute (same WeightQuantOptions: quantization is deterministic).
// Conv: E[x_c] is the mean of input channel c over samples and positions (zero padding at the
// borders is ignored); grouped Conv maps weight column j of output m to input channel
// (m / (M/g)) * (C/g) + j. Gemm (transA 0): E[x_k] over rows; C' = C + alpha * shift / beta.
// MatMul with a 2-D weight whose only reader is an Add of a constant [N] bias (an exported Linear
// layer): E[x_k] over all leading axes, the Add's constant corrected. A missing Conv / Gemm bias is
// added. Runs before the quantization pass, on the model it will quantize.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calibration/calibrator.h"
#include "passes/core/pass.h"
#include "passes/quantize/quant_math.h"

namespace scalec::passes {

/// What bias correction corrects, and the input means it needs.
struct BiasCorrectionOptions {
  quant::WeightQuantOptions weights;     ///< must match the quantization pass that follows
  std::set<std::string> exclude_nodes;   ///< left alone (they stay float)
  std::map<std::string, int> layer_bits; ///< weight bits per node name, overriding weights.bits
  std::set<std::string> exclude_ops;
  bool keep_io_float = false;
  /// Per input value: the mean of each channel (see bias_correction_inputs / channel_means).
  std::map<std::string, std::vector<double>> means;
  /// Weights the pass that follows stores as given (GPTQ's), by initializer name: Wq for those.
  std::map<std::string, quant::QuantizedWeight> prequantized;
};

/// The input values (name, channel axis) whose per-channel means bias correction needs.
std::vector<std::pair<std::string, int64_t>> bias_correction_inputs(const ir::Model& model,
                                                                    const BiasCorrectionOptions& options);

/// Per-channel means of `values` (name, channel axis; negative counts from the end) over `data`.
std::map<std::string, std::vector<double>> channel_means(const ir::Model& model,
                                                         const std::vector<std::pair<std::string, int64_t>>& values,
                                                         const calibration::BatchSource& data, int64_t batch, int threads);

/// Corrects Conv / Gemm biases for the expected shift of weight quantization (see the file comment).
class BiasCorrection final : public Pass {
 public:
  explicit BiasCorrection(BiasCorrectionOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "bias-correction"; }
  std::string run(ir::Model& model) override;

 private:
  BiasCorrectionOptions options_;
};

}  // namespace scalec::passes
