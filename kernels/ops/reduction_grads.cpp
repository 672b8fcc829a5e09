// Backward rules of the reduction family: every ReduceXxx (Sum, Mean, Max, Min, Prod, L1, L2,
// LogSum, LogSumExp, SumSquare; axes as attribute or input by opset, keepdims 0/1,
// noop_with_empty_axes) through kernels/cpu/reduce_backward.cpp; ReduceMax/ReduceMin split the
// gradient evenly among tied extremes. CumSum: the reversed cumulative sum of dy (same
// exclusive). TopK: dvalues scattered back to the picked indices. ArgMax/ArgMin have integer
// outputs and need no rule.
#include "ir/error.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/tensor_index.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

BackwardFn reduce_grad(ReduceKind kind) {
  return [kind](const GradContext& ctx) {
    std::vector<Tensor> d = grads::none(ctx.num_inputs());
    const Tensor* dy = ctx.doutput(0);
    if (dy == nullptr || !ctx.wants_grad(0)) return d;
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> axes = reduce_axes(ctx, x.rank());
    d[0] = reduce_backward_cpu(kind, ctx.pool(), x, ctx.output(0), *dy, axes, ctx.where());
    return d;
  };
}

// y_i = sum_{j <= i} x_j (j < i exclusive; j >= i reversed)  =>  dx_j = sum_{i >= j} dy_i: the
// cumulative sum of dy in the other direction, with the same exclusive.
std::vector<Tensor> cumsum_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  d[0] = cumsum_forward_cpu(ctx.pool(), *dy, cumsum_axis(ctx, ctx.input(0).rank()), ctx.attr_int("exclusive", 0) != 0,
                            ctx.attr_int("reverse", 0) == 0, ctx.where());
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
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.rank());
  const Tensor zeros(x.dtype(), x.shape());
  d[0] = scatter_elements_cpu(zeros, int_values(ctx, indices, "indices"), indices.shape(), *dvalues, axis,
                              ScatterReduction::kAdd, ctx.where());
  return d;
}

}  // namespace

void register_reduction_grads(OpRegistry& r) {
  for (const auto& [name, kind] : reduce_op_kinds()) r.set_backward(name, reduce_grad(kind));
  r.set_backward("CumSum", cumsum_grad_rule);
  r.set_backward("TopK", topk_grad_rule);
}

}  // namespace scalec::kernels
