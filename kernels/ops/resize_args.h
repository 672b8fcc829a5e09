#pragma once
// How a Resize or Upsample node resizes: read once (kernels/ops/pool_ops.cpp) for the forward
// kernel, the shape rule (kernels/ops/pool_shapes.cpp) and the backward rule
// (kernels/ops/tensor_index_grads.cpp).
#include <cstdint>
#include <vector>

#include "kernels/cpu/resize.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

/// The output shape and interpolation of one Resize/Upsample node.
struct ResizeArgs {
  ResizeRequest request;
  ResizeOptions options;
};

/// Resize's `axes` (attribute, opset 18+) normalized for an input of `rank`; Error(kBadInput)
/// naming the node when one is out of range or repeated.
std::vector<int64_t> resize_axes(const NodeAttrs& ctx, std::vector<int64_t> axes, int64_t rank);

/// Resize 10 (scales input, asymmetric), Resize 11+ (roi/scales/sizes, axes, policy) and Upsample
/// 1-10 (attributes or scales input), as the forward reads them for input X = ctx.input(0).
ResizeArgs resize_args(const OpContext& ctx);

}  // namespace scalec::kernels
