#pragma once
// How a Resize or Upsample node resizes: read once (kernels/ops/pool_ops.cpp) for the forward
// kernel and the backward rule (kernels/ops/tensor_grads.cpp).
#include "kernels/cpu/resize.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

/// The output shape and interpolation of one Resize/Upsample node.
struct ResizeArgs {
  ResizeRequest request;
  ResizeOptions options;
};

/// Resize 10 (scales input, asymmetric), Resize 11+ (roi/scales/sizes, axes, policy) and Upsample
/// 1-10 (attributes or scales input), as the forward reads them for input X = ctx.input(0).
ResizeArgs resize_args(const OpContext& ctx);

}  // namespace scalec::kernels
