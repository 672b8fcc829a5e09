// Backward rules of the tensor ops that cut, join, pick or resample (registered from
// register_tensor_grads in tensor_grads.cpp):
//   Concat: each input gets its slice of dy.        Split: dx joins the outputs' gradients (0 where none).
//   Slice:  dy scattered back to the sliced positions (any steps, negative ones too); 0 elsewhere.
//   Pad:    constant mode: the padded border gets no gradient, dx is dy's interior (0 where a
//           negative pad cropped x); reflect/edge/wrap: every output adds into the element it copied.
//   Gather: dy scatter-added over the indices (repeated indices add up; negative ones count from the end).
//   Resize/Upsample: the adjoint of the interpolation (kernels/cpu/resize_backward.cpp), to X only.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/resize.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/cpu/tensor_copy_backward.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/resize_args.h"
#include "kernels/ops/tensor_ops_internal.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Offset tables of a tensor of `shape` read whole, except `axis`, which reads `count` coordinates from `start`.
AxisOffsets axes_with_range(const std::vector<int64_t>& shape, int64_t axis, int64_t count, int64_t start) {
  AxisOffsets axes = identity_axes(shape);
  const int64_t stride = contiguous_strides(shape)[static_cast<size_t>(axis)];
  axes[static_cast<size_t>(axis)] = axis_range(count, start, 1, stride);
  return axes;
}

std::vector<Tensor> concat_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), dy->rank());
  int64_t start = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& x = ctx.input(i);
    const int64_t n = x.shape()[static_cast<size_t>(axis)];
    if (ctx.wants_grad(i)) d[i] = gather_axes(ctx.pool(), *dy, x.shape(), axes_with_range(dy->shape(), axis, n, start), ctx.where());
    start += n;
  }
  return d;
}

std::vector<Tensor> split_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  if (!ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), x.rank());
  const std::vector<int64_t> sizes = split_sizes(ctx, x.shape()[static_cast<size_t>(axis)]);
  MoveTarget dx(x.dtype(), x.shape(), ctx.where());
  std::vector<int64_t> origin(x.shape().size(), 0);
  bool any = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (const Tensor* g = ctx.doutput(i)) {
      gather_axes_into(ctx.pool(), *g, identity_axes(g->shape()), g->shape(), dx, origin);
      any = true;
    }
    origin[static_cast<size_t>(axis)] += sizes[i];
  }
  if (any) d[0] = dx.finish();
  return d;
}

std::vector<Tensor> slice_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  AxisOffsets tables = identity_axes(x.shape());
  const std::vector<int64_t> strides = contiguous_strides(x.shape());
  for (const SliceAxis& s : slice_args(ctx, x.rank())) {
    const auto [first, count] = slice_range(x.shape()[s.axis], s);
    tables[s.axis] = axis_range(count, first, s.step, strides[s.axis]);
  }
  Tensor dx(x.dtype(), x.shape());
  gather_axes_backward_cpu(ctx.pool(), *dy, tables, dx, true, ctx.where());
  d[0] = dx;
  return d;
}

std::vector<Tensor> pad_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const PadArgs args = pad_args(ctx, x.rank());
  const auto rank = static_cast<size_t>(x.rank());
  const std::vector<int64_t>& shape = dy->shape();
  const std::vector<int64_t> strides = contiguous_strides(x.shape());
  Tensor dx(x.dtype(), x.shape());
  if (args.mode != "constant") {
    // Output o along axis k copied x[pad_source(o - before)]: several outputs may share a source.
    AxisOffsets tables(rank);
    for (size_t k = 0; k < rank; ++k) {
      for (int64_t o = 0; o < shape[k]; ++o) {
        tables[k].push_back(pad_source(args.mode, o - args.amounts[k].first, x.shape()[k]) * strides[k]);
      }
    }
    gather_axes_backward_cpu(ctx.pool(), *dy, tables, dx, false, ctx.where());
    d[0] = dx;
    return d;
  }
  // The box of x that survives (negative pads crop): its place in dy and in x.
  std::vector<int64_t> box(rank);
  AxisOffsets from_dy(rank), to_x(rank);
  const std::vector<int64_t> dy_strides = contiguous_strides(shape);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t before = args.amounts[k].first;
    const int64_t lo = std::max<int64_t>(0, before), hi = std::min(shape[k], before + x.shape()[k]);
    box[k] = std::max<int64_t>(0, hi - lo);
    from_dy[k] = axis_range(box[k], lo, 1, dy_strides[k]);
    to_x[k] = axis_range(box[k], lo - before, 1, strides[k]);
  }
  const Tensor interior = gather_axes(ctx.pool(), *dy, box, from_dy, ctx.where());
  if (box == x.shape()) {
    d[0] = interior;
    return d;
  }
  gather_axes_backward_cpu(ctx.pool(), interior, to_x, dx, true, ctx.where());
  d[0] = dx;
  return d;
}

std::vector<Tensor> gather_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& data = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), data.rank());
  const int64_t dim = data.shape()[static_cast<size_t>(axis)];
  d[0] = gather_backward_cpu(ctx.pool(), *dy, data.shape(), axis, gather_indices(ctx, ctx.input(1), axis, dim),
                             ctx.where());
  return d;
}

// Resize 10/11+ and Upsample: gradient to X only (roi, scales and sizes are not differentiated).
std::vector<Tensor> resize_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const ResizeArgs args = resize_args(ctx);
  d[0] = resize_backward_cpu(ctx.pool(), *dy, ctx.input(0).shape(), args.request, args.options, ctx.where());
  return d;
}

}  // namespace

void register_tensor_index_grads(OpRegistry& r) {
  r.set_backward("Concat", concat_grad_rule);
  r.set_backward("Split", split_grad_rule);
  r.set_backward("Slice", slice_grad_rule);
  r.set_backward("Pad", pad_grad_rule);
  r.set_backward("Gather", gather_grad_rule);
  r.set_backward("Resize", resize_grad_rule);
  r.set_backward("Upsample", resize_grad_rule);
}

}  // namespace scalec::kernels
