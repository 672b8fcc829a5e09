// Tensor ops driven by index tensors: Gather (1+), GatherElements (11+), GatherND (11+; batch_dims
// at 12+), Scatter (9+, deprecated alias of ScatterElements), ScatterElements and ScatterND (11+;
// reduction add/mul at 16+, max/min at 18+), OneHot (9+), NonZero (9+). Negative indices count
// from the end of their axis; out-of-range indices are refused (OneHot: an all-off row, as specified).
#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/cpu/tensor_fill.h"
#include "kernels/cpu/tensor_index.h"
#include "kernels/ops/tensor_ops_internal.h"

namespace scalec::kernels {

using ir::Tensor;

std::vector<int64_t> gather_indices(const NodeAttrs& ctx, const Tensor& indices, int64_t axis, int64_t dim) {
  std::vector<int64_t> idx = int_values(ctx, indices, "indices");
  for (int64_t& i : idx) {
    if (i < -dim || i >= dim)
      throw_bad_input("{} index {} is out of range for axis {} of size {}", ctx.where(), i, axis, dim);
    if (i < 0) i += dim;
  }
  return idx;
}

namespace {

std::vector<Tensor> gather(const OpContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (data.rank() == 0) throw_bad_input("{} data must have rank 1 or more", ctx.where());
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), data.rank());
  const auto& ds = data.shape();
  const int64_t dim = ds[static_cast<size_t>(axis)];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < data.rank(); ++d) {
    if (d < axis) outer *= ds[static_cast<size_t>(d)];
    if (d > axis) inner *= ds[static_cast<size_t>(d)];
  }
  std::vector<int64_t> idx = gather_indices(ctx, indices, axis, dim);
  for (int64_t& i : idx) i *= inner;
  // Viewed as [outer, indices, inner], Gather reads each axis independently.
  const int64_t count = static_cast<int64_t>(idx.size());
  AxisOffsets axes = {axis_range(outer, 0, 1, dim * inner), std::move(idx), axis_range(inner, 0, 1, 1)};
  Tensor flat = gather_axes(ctx.pool(), data, {outer, count, inner}, axes, ctx.where());
  return {reshape_view(flat, dim_values(ctx, gather_dims(dims_of(ds), dims_of(indices.shape()), axis)))};
}

std::vector<Tensor> gather_elements(const OpContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), data.rank());
  return {gather_elements_cpu(ctx.pool(), data, int_values(ctx, indices, "indices"), indices.shape(), axis, ctx.where())};
}

std::vector<Tensor> gather_nd(const OpContext& ctx) {
  const Tensor& indices = ctx.input(1);
  const int64_t batch_dims = ctx.opset() >= 12 ? ctx.attr_int("batch_dims", 0) : 0;
  return {gather_nd_cpu(ctx.input(0), int_values(ctx, indices, "indices"), indices.shape(), batch_dims, ctx.where())};
}

ScatterReduction reduction_of(const OpContext& ctx) {
  if (ctx.opset() < 16) return ScatterReduction::kNone;
  ScatterReduction r = parse_scatter_reduction(ctx.attr_string("reduction", "none"), ctx.where());
  if (ctx.opset() < 18 && (r == ScatterReduction::kMax || r == ScatterReduction::kMin)) {
    throw_bad_input("{} reduction '{}' needs opset 18", ctx.where(), ctx.attr_string("reduction", ""));
  }
  return r;
}

std::vector<Tensor> scatter_elements(const OpContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), data.rank());
  const ScatterReduction reduction = ctx.node().op_type() == "Scatter" ? ScatterReduction::kNone : reduction_of(ctx);
  return {scatter_elements_cpu(data, int_values(ctx, indices, "indices"), indices.shape(), ctx.input(2), axis, reduction,
                               ctx.where())};
}

std::vector<Tensor> scatter_nd(const OpContext& ctx) {
  const Tensor& indices = ctx.input(1);
  return {scatter_nd_cpu(ctx.input(0), int_values(ctx, indices, "indices"), indices.shape(), ctx.input(2), reduction_of(ctx),
                         ctx.where())};
}

std::vector<Tensor> one_hot(const OpContext& ctx) {
  const Tensor& indices = ctx.input(0);
  const Tensor& depth = ctx.input(1);
  if (depth.numel() != 1) throw_bad_input("{} depth must hold one value, has {}", ctx.where(), depth.numel());
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), indices.rank() + 1);
  const double d = depth.element_as_double(0);
  if (!(d >= 1 && d < 9.0e15)) throw_bad_input("{} depth must be a positive count, got {}", ctx.where(), d);
  const auto n = static_cast<int64_t>(d);
  return {one_hot_cpu(indices, n, ctx.input(2), axis, ctx.where())};
}

}  // namespace

DimVec gather_dims(const DimVec& data, const DimVec& indices, int64_t axis) {
  DimVec out(data.begin(), data.begin() + axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  return out;
}

void register_tensor_index_ops(OpRegistry& r) {
  r.add("Gather", 1, kLatestOpset, gather);
  r.add("GatherElements", 11, kLatestOpset, gather_elements);
  r.add("GatherND", 11, kLatestOpset, gather_nd);
  r.add("Scatter", 9, kLatestOpset, scatter_elements);
  r.add("ScatterElements", 11, kLatestOpset, scatter_elements);
  r.add("ScatterND", 11, kLatestOpset, scatter_nd);
  r.add("OneHot", 9, kLatestOpset, one_hot);
  r.add("NonZero", 9, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{nonzero_cpu(ctx.input(0), ctx.where())}; });
}

}  // namespace scalec::kernels
