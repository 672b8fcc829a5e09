// Backward rules of the tensor family. This file: the ops that keep or reorder elements
// (Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze, Transpose) or repeat them (Expand,
// Tile); the ops that cut, join, pick or resample (Concat, Split, Slice, Pad, Gather, Resize,
// Upsample) are in tensor_index_grads.cpp. Shape, index and scale inputs get no gradient.
#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/tensor_ops_internal.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Identity, Reshape, Flatten, Squeeze, Unsqueeze: the same elements, so dx = dy in x's shape.
std::vector<Tensor> reshape_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  d[0] = reshape_view(*dy, ctx.input(0).shape());
  return d;
}

// Dropout: where the forward dropped (dropout_plan), y = x * mask / (1 - ratio), so
// dx = dy * mask / (1 - ratio) with the mask it returned (output 1); otherwise y = x, dx = dy.
std::vector<Tensor> dropout_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const DropoutPlan plan = dropout_plan(ctx);
  if (!plan.drops) {
    d[0] = *dy;
    return d;
  }
  const Tensor& mask = ctx.output(1);
  if (mask.dtype() != ir::DType::kBool || mask.shape() != dy->shape()) {
    throw_internal("{} the dropout mask is {} {}, expected bool {}", ctx.where(), ir::dtype_name(mask.dtype()),
                   ir::shape_to_string(mask.shape()), ir::shape_to_string(dy->shape()));
  }
  const double keep_scale = 1.0 / (1.0 - plan.ratio);
  d[0] = dispatch_float(dy->dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    Tensor dx(dy->dtype(), dy->shape());
    const bool* m = mask.values<bool>().data();
    const T* g = dy->values<T>().data();
    T* out = dx.mutable_values<T>().data();
    // A select, not a product: ratio 1 keeps nothing and must not make 0 * inf.
    for (int64_t i = 0; i < dx.numel(); ++i) out[i] = m[i] ? static_cast<T>(g[i] * keep_scale) : T(0);
    return dx;
  });
  return d;
}

// Transpose: y axis i is x axis perm[i], so dx is dy transposed by the inverse permutation.
std::vector<Tensor> transpose_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t> perm = transpose_perm(ctx, x.rank());
  const std::vector<int64_t> dy_strides = contiguous_strides(dy->shape());
  AxisOffsets tables(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    const auto xd = static_cast<size_t>(perm[i]);
    tables[xd] = axis_range(x.shape()[xd], 0, 1, dy_strides[i]);
  }
  d[0] = gather_axes(ctx.pool(), *dy, x.shape(), tables, ctx.where());
  return d;
}

// Expand: numpy broadcasting, so dx = dy summed over the broadcast axes.
std::vector<Tensor> expand_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  d[0] = grads::sum_to_shape(ctx, *dy, ctx.input(0).shape());
  return d;
}

// Tile: output index o = t * n + i along an axis of size n (tile t), so dy viewed as
// [r0, n0, r1, n1, ...] summed over the tile axes r_k is dx.
std::vector<Tensor> tile_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t> repeats = tile_repeats(ctx, x.rank());
  std::vector<int64_t> view, tile_axes;
  for (size_t k = 0; k < repeats.size(); ++k) {
    tile_axes.push_back(static_cast<int64_t>(view.size()));
    view.push_back(repeats[k]);
    view.push_back(x.shape()[k]);
  }
  if (shape_numel(view) != dy->numel()) {
    throw_internal("{} Tile gradient {} does not match repeats of {}", ctx.where(), ir::shape_to_string(dy->shape()),
                   ir::shape_to_string(x.shape()));
  }
  Tensor dx = reduce_forward_cpu(ReduceKind::kSum, ctx.pool(), reshape_view(*dy, view), tile_axes, false, ctx.where());
  d[0] = reshape_view(dx, x.shape());
  return d;
}

}  // namespace

void register_tensor_grads(OpRegistry& r) {
  for (const char* op : {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}) r.set_backward(op, reshape_grad_rule);
  r.set_backward("Dropout", dropout_grad_rule);
  r.set_backward("Transpose", transpose_grad_rule);
  r.set_backward("Expand", expand_grad_rule);
  r.set_backward("Tile", tile_grad_rule);
  register_tensor_index_grads(r);
}

}  // namespace scalec::kernels
