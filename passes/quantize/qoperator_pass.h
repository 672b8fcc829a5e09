#pragma once
// quantize-qoperator: static quantization in the QOperator format (integer ops, ONNX Runtime's
// QuantFormat.QOperator): Conv -> QLinearConv, MatMul with a constant 2-D weight -> QLinearMatMul.
//
//   Before: x -> Conv(W, B) -> y -> Relu -> Conv(W2) -> z
//   After:  x -> QuantizeLinear(sx) -> QLinearConv(W_int8, sw, sy, B_int32) -> y_q -> DequantizeLinear(sy) -> y
//           y -> Relu -> QuantizeLinear -> QLinearConv(W2_int8 ...) -> z_q -> DequantizeLinear -> z
//
// Integer ops feeding integer ops pass the int8 value directly (its scale is the producer's output
// scale, calibrated once per value); every other op stays float between a DequantizeLinear and a
// QuantizeLinear. A MatMul of two activations (attention) stays float. Weights: int8 (k-bit in the int8 container; 4 bits too, since the integer ops
// take 8-bit operands only), per output channel (QLinearConv w_scale [M], QLinearMatMul per-column
// b_scale [N]) with one zero point (0) for all channels, which ONNX Runtime's QLinearConv requires.
// Conv bias: int32 with scale sx * sw[m]; a bias that does not fit int32 leaves the Conv float.
// Activations: int8, asymmetric by default (zero point from the range) or symmetric (zero point 0);
// uint8 through QdqOptions::activation_signed. Gemm is handled by running
// gemm-to-matmul first (QGemm is a com.microsoft op). Needs opset 10; per-channel is in the
// op definitions from 10 on. Preconditions: a float model (a quantized one is refused).
#include <string>
#include <vector>

#include "passes/core/pass.h"
#include "passes/quantize/qdq_pass.h"

namespace scalec::passes {

/// The activation values whose ranges the QOperator pass needs (inputs and outputs of the nodes it quantizes).
std::vector<std::string> qoperator_calibration_values(ir::Model& model, const QdqOptions& options);

/// Static quantization into QLinearConv / QLinearMatMul (see the file comment); takes QdqOptions.
class QuantizeQOperator final : public QuantPass {
 public:
  using QuantPass::QuantPass;
  std::string name() const override { return "quantize-qoperator"; }
  std::string run(ir::Model& model) override;
};

}  // namespace scalec::passes
