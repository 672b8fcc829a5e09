#pragma once
// convert-float: a float32 model becomes float16 in weights and compute, for GPUs and runtimes with
// half-precision kernels (--format fp16). (bfloat16 compute is not offered: ONNX gives Conv and the
// pools bfloat16 only at opset 22, and no runtime on scalec's test machines runs bfloat16 to check it;
// --format bf16 stores weights only, passes/convert/bfloat16_weights.h.)
//
//   Before: x:f32 -> Conv(W:f32) -> Resize(scales:f32) -> LayerNormalization -> y:f32
//   After:  x:f32 -> Cast(f16) -> Conv(W:f16) -> Cast(f32) -> Resize(scales:f32) -> Cast(f16)
//             -> Cast(f32) -> LayerNormalization -> Cast(f16) -> Cast(f32) -> y:f32
//
// Every float32 value (scalec's shape inference decides which) becomes the half type: weights,
// recorded types, Cast-to-float, Constant / ConstantOfShape values. Ops a runtime needs in float32
// (Resize and Upsample scales, TopK, Range, CumSum, NonMaxSuppression, RoiAlign; the normalizations,
// whose statistics lose too much in half) run in float32 between Casts, and a weight only they read
// stays float32. With keep_io the model's inputs and outputs stay float32 (a Cast after each input,
// before each output), so callers feed and read what they did. Quantized models and models with
// subgraphs (If/Loop/Scan) are refused (Error kBadInput).
#include <string>

#include "passes/core/pass.h"

namespace scalec::passes {

/// True for the ops the float conversions keep in float32 (Resize and Upsample scales, TopK, Range,
/// CumSum, NonMaxSuppression, RoiAlign, the normalizations).
bool keeps_float32(const ir::Node& n);

class ConvertFloat final : public Pass {
 public:
  explicit ConvertFloat(bool keep_io) : keep_io_(keep_io) {}
  std::string name() const override { return "convert-float"; }
  std::string options_text() const override;
  std::string run(ir::Model& model) override;

 private:
  bool keep_io_;
};

}  // namespace scalec::passes
