// Shape and type rules of the reduction family (see kernels/ops/shape_rules.h): ReduceXxx keeps
// X's type, its axes read as the kernel reads them (reduce_axes); ArgMax/ArgMin give int64;
// TopK's values and int64 indices have k at `axis`; CumSum keeps X's type and shape. Where an
// axes or K input is not known, the rank still comes out when keepdims or the input's length tells it.
#include <algorithm>
#include <string>

#include "ir/error.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using shapes::Dims;

constexpr int32_t kInt64 = static_cast<int32_t>(ir::DType::kInt64);

// `dims` with the (normalized) `axes` set to 1 (keepdims) or removed.
Dims reduced_dims(const Dims& dims, const std::vector<int64_t>& axes, bool keepdims) {
  Dims out;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) == axes.end()) out.push_back(dims[d]);
    else if (keepdims) out.push_back(ir::Dim::of(1));
  }
  return out;
}

// ReduceXxx (any opset).
std::vector<ir::TypeInfo> reduce(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  const bool axes_as_input = ctx.opset() >= reduce_axes_input_since(ctx.node().op_type());
  std::optional<std::vector<int64_t>> axes_input;  // nullopt: omitted, or given but not known
  std::optional<int64_t> axes_count;               // values in the axes input, when that is known
  bool axes_known = true;
  if (axes_as_input && ctx.has_input(1)) {
    axes_input = shapes::known_ints(ctx.input_value(1));
    axes_count = axes_input ? std::optional<int64_t>(static_cast<int64_t>(axes_input->size()))
                            : shapes::known_numel(ctx.input_type(1));
    if (!axes_input && axes_count == 0) axes_input = std::vector<int64_t>{};  // known to be empty
    axes_known = axes_input.has_value();
  }
  if (!x.shape) {
    // Only a reduction of every axis without keepdims tells the rank (0) of an input of unknown rank.
    const bool noop = axes_as_input && ctx.attr_int("noop_with_empty_axes", 0) != 0;
    const bool all = axes_known && !noop && (axes_as_input ? !axes_input || axes_input->empty() : ctx.attr_ints("axes").empty());
    return {shapes::like(x, all && !keepdims ? std::optional<Dims>(Dims{}) : std::nullopt)};
  }
  const auto rank = static_cast<int64_t>(x.shape->size());
  if (axes_known) return {shapes::like(x, reduced_dims(*x.shape, reduce_axes(ctx, axes_input, rank), keepdims))};
  // Axes given but not known: each dim may be reduced, except that a size-1 dim stays 1.
  if (keepdims) {
    Dims out;
    for (const ir::Dim& d : *x.shape) out.push_back(d.value == 1 ? d : shapes::unknown_dim());
    return {shapes::like(x, out)};
  }
  if (!axes_count) return {shapes::like(x, std::nullopt)};
  if (*axes_count > rank) throw_bad_input("{} axes holds {} values for an input of rank {}", ctx.where(), *axes_count, rank);
  return {shapes::like(x, shapes::unknown_dims(static_cast<size_t>(rank - *axes_count)))};
}

// ArgMax, ArgMin: int64 indices, `axis` (default 0) set to 1 or removed.
std::vector<ir::TypeInfo> arg_reduce(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  if (!x.shape) return {shapes::tensor_type(kInt64, std::nullopt)};
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), static_cast<int64_t>(x.shape->size()));
  return {shapes::tensor_type(kInt64, reduced_dims(*x.shape, {axis}, ctx.attr_int("keepdims", 1) != 0))};
}

// TopK: Values (X's type) and Indices (int64), both X's shape with k at `axis` (default -1).
std::vector<ir::TypeInfo> topk(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  std::optional<int64_t> k;
  if (ctx.opset() < 10) {
    k = topk_k(ctx, {});
  } else if (std::optional<std::vector<int64_t>> kv = shapes::known_ints(ctx.input_value(1))) {
    k = topk_k(ctx, *kv);
  } else if (std::optional<int64_t> n = shapes::known_numel(ctx.input_type(1)); n && *n != 1) {
    topk_k(ctx, std::vector<int64_t>(static_cast<size_t>(*n)));  // throws: K must hold one value
  }
  if (!x.shape) return {shapes::like(x, std::nullopt), shapes::tensor_type(kInt64, std::nullopt)};
  Dims dims = *x.shape;
  const auto axis =
      static_cast<size_t>(normalize_axis(ctx, ctx.attr_int("axis", -1), static_cast<int64_t>(dims.size())));
  if (k) {
    const std::optional<int64_t> n = dims[axis].value;
    if (*k < 0 || (n && *k > *n)) {
      throw_bad_input("{} k = {} is outside [0, {}] (the size of axis {})", ctx.where(), *k,
                      n ? std::to_string(*n) : std::string("?"), axis);
    }
  }
  dims[axis] = shapes::dim_from(k);
  return {shapes::like(x, dims), shapes::tensor_type(kInt64, dims)};
}

// CumSum: X's type and shape; the axis input is one integer within X's rank.
std::vector<ir::TypeInfo> cumsum(const InferContext& ctx) {
  const ir::TypeInfo& axis_type = ctx.input_type(1);
  std::optional<int64_t> n = shapes::known_numel(ctx.input_type(1));
  if ((shapes::rank_of(axis_type).value_or(0) > 1) || (n && *n != 1)) {
    throw_bad_input("{} axis must be a scalar, got {}", ctx.where(), ir::type_to_string(axis_type));
  }
  std::optional<std::vector<int64_t>> axis = shapes::known_ints(ctx.input_value(1));
  std::optional<int64_t> rank = shapes::rank_of(ctx.input_type(0));
  if (axis && axis->size() == 1 && rank) normalize_axis(ctx, (*axis)[0], *rank);
  return shapes::same_as_input(ctx);
}

}  // namespace

void register_reduction_shapes(OpRegistry& r) {
  for (const ReduceOpKind& op : reduce_op_kinds()) r.set_infer(op.op_type, reduce);
  r.set_infer("ArgMax", arg_reduce);
  r.set_infer("ArgMin", arg_reduce);
  r.set_infer("TopK", topk);
  r.set_infer("CumSum", cumsum);
}

}  // namespace scalec::kernels
