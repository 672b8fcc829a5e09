// Backward rules of the reduction family: every ReduceXxx (Sum, Mean, Max, Min, Prod, L1, L2,
// LogSum, LogSumExp, SumSquare; axes as attribute or input by opset, keepdims 0/1,
// noop_with_empty_axes) through kernels/cpu/reduce_backward.cpp; ReduceMax/ReduceMin split the
// gradient evenly among tied extremes. CumSum: the reversed cumulative sum of dy (same
// exclusive). TopK: dvalues scattered back to the picked indices. ArgMax/ArgMin have integer
// outputs and need no rule.
#include <optional>

#include "ir/error.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/tensor_index.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// The integers of an index-like input (axes, K, axis), any integer type.
std::vector<int64_t> int_input(const GradContext& ctx, const Tensor& t, const char* name) {
  if (ir::dtype_is_float(t.dtype()) || t.dtype() == ir::DType::kString) {
    throw_bad_input("{} {} must be integers, not {}", ctx.where(), name, ir::dtype_name(t.dtype()));
  }
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = static_cast<int64_t>(t.element_as_double(i));
  return v;
}

BackwardFn reduce_grad(ReduceKind kind) {
  return [kind](const GradContext& ctx) {
    std::vector<Tensor> d = grads::none(ctx.num_inputs());
    const Tensor* dy = ctx.doutput(0);
    if (dy == nullptr || !ctx.wants_grad(0)) return d;
    const Tensor& x = ctx.input(0);
    std::optional<std::vector<int64_t>> axes_input;
    if (ctx.has_input(1)) axes_input = int_input(ctx, ctx.input(1), "axes");
    const std::vector<int64_t> axes = reduce_axes(ctx, axes_input, x.rank());
    d[0] = reduce_backward_cpu(kind, ctx.pool(), x, ctx.output(0), *dy, axes, ctx.where());
    return d;
  };
}

int64_t normalized_axis(const GradContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) throw_bad_input("{} axis {} is out of range for rank {}", ctx.where(), axis, rank);
  return axis < 0 ? axis + rank : axis;
}

// y_i = sum_{j <= i} x_j (j < i exclusive; j >= i reversed)  =>  dx_j = sum_{i >= j} dy_i: the
// cumulative sum of dy in the other direction, with the same exclusive.
std::vector<Tensor> cumsum_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t> axis_v = int_input(ctx, ctx.input(1), "axis");
  if (axis_v.size() != 1) throw_bad_input("{} axis must be a scalar", ctx.where());
  const int64_t axis = normalized_axis(ctx, axis_v[0], x.rank());
  d[0] = cumsum_forward_cpu(ctx.pool(), *dy, axis, ctx.attr_int("exclusive", 0) != 0, ctx.attr_int("reverse", 0) == 0,
                            ctx.where());
  return d;
}

// TopK: outputs values and indices along `axis`; dx = 0 except dvalues at the picked indices
// (distinct within each line, so the scatter adds each once).
std::vector<Tensor> topk_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dvalues = ctx.doutput(0);
  if (dvalues == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const Tensor& indices = ctx.output(1);
  const int64_t axis = normalized_axis(ctx, ctx.attr_int("axis", -1), x.rank());
  const Tensor zeros(x.dtype(), x.shape());
  d[0] = scatter_elements_cpu(zeros, int_input(ctx, indices, "indices"), indices.shape(), *dvalues, axis,
                              ScatterReduction::kAdd, ctx.where());
  return d;
}

}  // namespace

void register_reduction_grads(OpRegistry& r) {
  const std::pair<const char*, ReduceKind> reductions[] = {
      {"ReduceSum", ReduceKind::kSum},         {"ReduceMean", ReduceKind::kMean},
      {"ReduceMax", ReduceKind::kMax},         {"ReduceMin", ReduceKind::kMin},
      {"ReduceProd", ReduceKind::kProd},       {"ReduceL1", ReduceKind::kL1},
      {"ReduceL2", ReduceKind::kL2},           {"ReduceLogSum", ReduceKind::kLogSum},
      {"ReduceLogSumExp", ReduceKind::kLogSumExp}, {"ReduceSumSquare", ReduceKind::kSumSquare},
  };
  for (const auto& [name, kind] : reductions) r.set_backward(name, reduce_grad(kind));
  r.set_backward("CumSum", cumsum_grad_rule);
  r.set_backward("TopK", topk_grad_rule);
}

}  // namespace scalec::kernels
