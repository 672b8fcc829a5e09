#pragma once
// Operator fusion for the Executor: a Conv followed by its only consumer, a Relu or a Clip with
// constant scalar bounds, runs as one Conv whose epilogue applies the activation to each output
// block while it is hot in cache (MobileNetV2 spent 36-42% of its time in a separate Clip pass).
#include <optional>
#include <vector>

#include "ir/graph.h"
#include "kernels/cpu/conv.h"

namespace scalec::kernels {

class OpContext;

/// A Conv node and the activation node it absorbs.
struct ConvActFusion {
  const ir::Node* act = nullptr;  ///< the Relu or Clip; the fused step produces its output
  ConvEpilogue epilogue;
  ir::DType bound_dtype = ir::DType::kUndefined;  ///< Clip 11+: the bounds' element type, which X must have
};

/// The activation `conv` can absorb: its output is read by exactly one node, a Relu or Clip
/// (opset < 11: attribute bounds; 11+: scalar float/double bounds from initializers that are not
/// graph inputs, or from Constant nodes), and is no graph output. nullopt otherwise.
std::optional<ConvActFusion> plan_conv_fusion(const ir::Model& model, const ir::Node& conv);

/// Runs the Conv of `ctx` (its node and inputs) with the fusion's epilogue; returns the activation's output.
ir::Tensor run_fused_conv(const OpContext& ctx, const ConvActFusion& fusion);

}  // namespace scalec::kernels
