#pragma once
// Operator fusion for inference runs of the Executor. A fused step runs at its head node's place
// and computes a short chain of later nodes in one pass, producing the last node's outputs; the
// values in between never exist. Each fused result is bitwise what the unfused nodes give.
//   Conv -> Relu | Clip(constant bounds): the activation in the Conv's epilogue, on each output
//     block while it is hot in cache (MobileNetV2 spent 36-42% of its time in a separate Clip pass).
//   MatMul(X, constant W [K, N]) -> Add(constant [N]): the bias added in place on the product.
//   Div(x, c) -> Erf -> Add(k) -> Mul(x) -> Mul(h): exact GELU as PyTorch exports it, one pass
//     instead of five over the FFN's largest tensor.
#include <optional>
#include <vector>

#include "ir/graph.h"
#include "kernels/cpu/conv.h"

namespace scalec::kernels {

class OpContext;

/// What a fused step computes in place of its head node and the nodes it absorbs.
struct Fusion {
  enum class Kind { kConvActivation, kMatMulBias, kErfGelu };
  Kind kind = Kind::kConvActivation;
  /// The later nodes the step computes, in order; it produces the last one's outputs.
  std::vector<const ir::Node*> absorbed;
  ConvEpilogue epilogue;                          ///< kConvActivation
  ir::DType bound_dtype = ir::DType::kUndefined;  ///< kConvActivation, Clip 11+: the bounds' type, which X must have
  const ir::Tensor* bias = nullptr;               ///< kMatMulBias: the [N] bias (a tensor of the model)
  double divisor = 0, offset = 0, scale = 0;      ///< kErfGelu: y = (x * (erf(x / divisor) + offset)) * scale
};

/// The fusion headed by `head`, or nullopt. Every value a fusion removes is read by exactly one
/// node and is no graph output; constants come from initializers that no feed can replace or
/// from Constant nodes.
std::optional<Fusion> plan_fusion(const ir::Model& model, const ir::Node& head);

/// The values a fusion keeps from existing (the head's and the absorbed nodes' outputs, except
/// the last node's): a tap on any of them must disable it.
std::vector<const ir::Value*> fusion_internal_values(const ir::Node& head, const Fusion& fusion);

/// Runs the fused step on the head's context (its node and inputs); returns the last absorbed
/// node's output.
ir::Tensor run_fusion(const OpContext& ctx, const Fusion& fusion);

}  // namespace scalec::kernels
