#pragma once
// quantize-weight-only: weights of Conv, ConvTranspose, Gemm and MatMul stored as k-bit integers
// (blockwise int4 by default in the CLI) behind a DequantizeLinear; activations stay float.
//
//   Before: x -> MatMul(W) -> y
//   After:  x -> MatMul(DequantizeLinear(W_int4, scale[K/B, N], axis 0, block_size B)) -> y
//
// Blocks run along the reduction (input) axis (quant::weight_axes). int4 weights and block_size
// need opset 21: the model is upgraded explicitly (passes/core/opset_upgrade.h). No calibration data
// is needed. Preconditions: a float model (a quantized one is refused, Error kBadInput).
#include <map>
#include <set>
#include <string>

#include "passes/core/pass.h"
#include "passes/quantize/qdq_pass.h"
#include "passes/quantize/quant_math.h"

namespace scalec::passes {

/// What to quantize in the weight-only format.
struct WeightOnlyOptions {
  quant::WeightQuantOptions weights;
  std::set<std::string> exclude_nodes;
  std::set<std::string> exclude_ops;
  /// When not empty, layers of other op types are skipped and not counted (another pass quantizes them).
  std::set<std::string> only_ops;
  bool keep_io_float = false;
  /// Weights already quantized (by GPTQ, passes/quantize/gptq.h), by initializer name: stored as
  /// given instead of rounded to nearest.
  std::map<std::string, quant::QuantizedWeight> prequantized;
};

/// Weight-only quantization (see the file comment).
class QuantizeWeightOnly final : public Pass {
 public:
  explicit QuantizeWeightOnly(WeightOnlyOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "quantize-weight-only"; }
  std::string run(ir::Model& model) override;
  const QuantReport& report() const { return report_; }

 private:
  WeightOnlyOptions options_;
  QuantReport report_;
};

}  // namespace scalec::passes
