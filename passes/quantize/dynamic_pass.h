#pragma once
// quantize-dynamic: weights int8 ahead of time, activations quantized at run time, as ONNX
// Runtime's quantize_dynamic writes transformers (no calibration data needed).
//
//   Before: x -> MatMul(W [K, N]) -> y
//   After:  x -> DynamicQuantizeLinear -> (x_u8, x_scale, x_zero_point)
//           MatMulInteger(x_u8, W_int8, x_zero_point, w_zero_point) -> int32 -> Cast(float) -> Mul(s) -> y
//           s = Mul(x_scale, w_scale)    (w_scale: scalar, or [N] per output column)
//
//   Before: x -> Conv(W [M, C/g, k...], B) -> y
//   After:  ConvInteger(x_u8, W_u8, x_zero_point, 128) -> int32 -> Cast(float) -> Mul(s) -> Add(B [M, 1...]) -> y
//           s = Mul(x_scale, w_scale [M, 1...])    (as ONNX Runtime's quantize_dynamic writes Conv)
//
// One DynamicQuantizeLinear per activation, shared by the layers that read it (q, k, v). MatMul
// weights: symmetric int8 (k-bit in the int8 container) per tensor or per output column, zero point
// 0 (an explicit tensor, as ORT writes it). Conv weights: the same integers stored as uint8 with zero
// point 128, because ONNX Runtime 1.20 implements ConvInteger for uint8 weights only ("Could not find
// an implementation for ConvInteger(10)" with int8); one zero point serves every channel, as its
// ConvInteger requires. Gemm is handled by running gemm-to-matmul first. MatMul of two activations
// stays float (quantize_dynamic skips it too), and so does ConvTranspose (ONNX has no integer form).
// Needs opset 11 (DynamicQuantizeLinear); older models are upgraded. Preconditions: a float model
// (a quantized one is refused).
#include <string>

#include "passes/core/pass.h"
#include "passes/quantize/qdq_pass.h"

namespace scalec::passes {

/// Dynamic quantization of MatMul and Conv with constant weights (see the file comment); takes
/// QdqOptions (weights, exclusions, keep_io_float; ranges are not used).
class QuantizeDynamic final : public QuantPass {
 public:
  using QuantPass::QuantPass;
  std::string name() const override { return "quantize-dynamic"; }
  std::string run(ir::Model& model) override;
};

}  // namespace scalec::passes
