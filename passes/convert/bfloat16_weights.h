#pragma once
// bfloat16-weights: float32 weights stored as bfloat16, computed in float32 (--format bf16). Halves
// the weights' bytes; every runtime runs it, since compute keeps its float32 kernels (bfloat16 compute
// needs kernels that ONNX Runtime's CPU provider and most runtimes lack: Conv and the pools take
// bfloat16 only from opset 22).
//
//   Before: x -> Conv(W:f32, B:f32) -> y
//   After:  W_bf16 -> Cast(to float) -> W;  x -> Conv(W, B_bf16 -> Cast) -> y
//
// The Cast writes the weight's own value, so every reader and name stays. Rounding is to nearest even.
// Left float32: tensors under 16 elements (nothing to save; thresholds and scalars stay exact) and
// the inputs of ops that keep float32 in convert-float (Resize scales, normalization parameters ...).
// Needs opset 13 (Cast from bfloat16); older models are upgraded. Quantized models are refused.
#include <string>

#include "passes/core/pass.h"

namespace scalec::passes {

class Bfloat16Weights final : public Pass {
 public:
  std::string name() const override { return "bfloat16-weights"; }
  std::string run(ir::Model& model) override;
};

}  // namespace scalec::passes
