// Reduction ops: ReduceSum (opsets 1-12 axes attribute, 13-22 axes input), ReduceMean, ReduceMax,
// ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare
// (1-17 attribute, 18-22 input), with keepdims and noop_with_empty_axes; ArgMax and ArgMin (1-22,
// select_last_index from 12), TopK (1-9 k attribute, 10 K input, 11-22 largest/sorted), CumSum (11-22).
#include <optional>

#include "ir/error.h"
#include "kernels/cpu/reduce.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// A ReduceXxx op (any opset: reduce_axes reads the axes where the opset keeps them).
ForwardFn reduce_op(ReduceKind kind) {
  return [kind](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> axes = reduce_axes(ctx, x.rank());
    const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
    return std::vector<Tensor>{reduce_forward_cpu(kind, ctx.pool(), x, axes, keepdims, ctx.where())};
  };
}

ForwardFn arg_op(bool is_max) {
  return [is_max](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), x.rank());
    const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
    const bool last = ctx.opset() >= 12 && ctx.attr_int("select_last_index", 0) != 0;
    return std::vector<Tensor>{arg_reduce_forward_cpu(is_max, ctx.pool(), x, axis, keepdims, last, ctx.where())};
  };
}

std::vector<Tensor> topk(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t k = topk_k(ctx, ctx.opset() < 10 ? std::vector<int64_t>{} : int_values(ctx, ctx.input(1), "K"));
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.rank());
  // sorted=0 leaves the order to the runtime; sorted output is a valid answer.
  const bool largest = ctx.opset() < 11 || ctx.attr_int("largest", 1) != 0;
  auto [values, indices] = topk_forward_cpu(ctx.pool(), x, k, axis, largest, ctx.where());
  return {values, indices};
}

std::vector<Tensor> cumsum(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  return {cumsum_forward_cpu(ctx.pool(), x, cumsum_axis(ctx, x.rank()), ctx.attr_int("exclusive", 0) != 0,
                             ctx.attr_int("reverse", 0) != 0, ctx.where())};
}

}  // namespace

int64_t reduce_axes_input_since(std::string_view op_type) { return op_type == "ReduceSum" ? 13 : 18; }

std::vector<int64_t> reduce_axes(const NodeAttrs& ctx, const std::optional<std::vector<int64_t>>& axes_input,
                                 int64_t rank) {
  std::vector<int64_t> axes;
  bool noop = false;
  if (ctx.opset() >= reduce_axes_input_since(ctx.node().op_type())) {
    if (ctx.has_attr("axes")) throw_bad_input("{} axes is an input at this opset, not an attribute", ctx.where());
    if (axes_input) axes = *axes_input;
    noop = ctx.attr_int("noop_with_empty_axes", 0) != 0;
  } else {
    axes = ctx.attr_ints("axes");
  }
  if (axes.empty() && !noop) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  return reduce_normalize_axes(std::move(axes), rank, ctx.where());
}

std::vector<int64_t> reduce_axes(const OpContext& ctx, int64_t rank) {
  std::optional<std::vector<int64_t>> axes_input;
  if (ctx.has_input(1)) axes_input = int_values(ctx, ctx.input(1), "axes");
  return reduce_axes(ctx, axes_input, rank);
}

int64_t cumsum_axis(const OpContext& ctx, int64_t rank) {
  const Tensor& axis = ctx.input(1);
  if (axis.rank() > 1 || axis.numel() != 1) throw_bad_input("{} axis must be a scalar", ctx.where());
  return normalize_axis(ctx, int_values(ctx, axis, "axis")[0], rank);
}

int64_t topk_k(const NodeAttrs& ctx, const std::vector<int64_t>& k_input) {
  if (ctx.opset() < 10) {
    if (!ctx.has_attr("k")) throw_bad_input("{} the attribute k is required", ctx.where());
    return ctx.attr_int("k", 0);
  }
  if (k_input.size() != 1) throw_bad_input("{} K must hold one value, it holds {}", ctx.where(), k_input.size());
  return k_input[0];
}

std::span<const ReduceOpKind> reduce_op_kinds() {
  static constexpr ReduceOpKind kinds[] = {
      {"ReduceSum", ReduceKind::kSum},         {"ReduceMean", ReduceKind::kMean},
      {"ReduceMax", ReduceKind::kMax},         {"ReduceMin", ReduceKind::kMin},
      {"ReduceProd", ReduceKind::kProd},       {"ReduceL1", ReduceKind::kL1},
      {"ReduceL2", ReduceKind::kL2},           {"ReduceLogSum", ReduceKind::kLogSum},
      {"ReduceLogSumExp", ReduceKind::kLogSumExp}, {"ReduceSumSquare", ReduceKind::kSumSquare},
  };
  return kinds;
}

void register_reduction_ops(OpRegistry& r) {
  for (const auto& [name, kind] : reduce_op_kinds()) {
    const int64_t axes_input_since = reduce_axes_input_since(name);
    r.add(name, 1, axes_input_since - 1, reduce_op(kind));
    r.add(name, axes_input_since, kLatestOpset, reduce_op(kind));
  }
  r.add("ArgMax", 1, kLatestOpset, arg_op(true));
  r.add("ArgMin", 1, kLatestOpset, arg_op(false));
  r.add("TopK", 1, 9, topk);
  r.add("TopK", 10, kLatestOpset, topk);
  r.add("CumSum", 11, kLatestOpset, cumsum);
}

}  // namespace scalec::kernels
