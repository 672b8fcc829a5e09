#pragma once
// Explicit opset upgrade of the default ONNX domain (a pass that needs a newer opset, such as int4
// or blockwise DequantizeLinear at 21, calls it). Ops whose signature changed on the way are
// converted: attributes that became inputs (Pad, Clip at 11; Dropout ratio at 12; Split, Squeeze,
// Unsqueeze, ReduceSum axes at 13; the other Reduce* axes at 18; Slice, TopK at 10) become int64 or
// float initializers; Softmax / LogSoftmax / Hardmax (13: one axis instead of "flatten from axis")
// keep their meaning when they act on the last axis. Ops whose meaning cannot be carried over
// (Upsample, Scatter, Resize below 11, Scan below 9, GroupNormalization across 21, spatial=0
// BatchNormalization) are refused by name with Error(kBadInput); so are models below opset 7.
// The IR version is raised to what the new opset needs (10 for opset 21).
#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "passes/core/pass.h"

namespace scalec::passes {

/// Upgrades `model`'s default-domain opset to `target` (no-op when already there or above).
void upgrade_opset(ir::Model& model, int64_t target);

/// upgrade-opset<opset=N>: --target-opset as a pass; a model above N is refused (Error kUsage:
/// scalec does not downgrade).
class UpgradeOpset final : public Pass {
 public:
  explicit UpgradeOpset(int64_t target) : target_(target) {}
  std::string name() const override { return "upgrade-opset"; }
  std::string options_text() const override { return "opset=" + std::to_string(target_); }
  std::string run(ir::Model& model) override;

 private:
  int64_t target_;
};

}  // namespace scalec::passes
