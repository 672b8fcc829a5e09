// Backward rules of the pool family (kernels in kernels/cpu/pool_backward.h):
//   MaxPool            dX gets dY at each window's arg-max, exactly the position the forward's
//                      Indices name (its tie and NaN rule, pads, strides, dilations, ceil_mode):
//                      the Indices output when the node produced them in row-major order, else
//                      the forward run again for them.
//   AveragePool        dY spread over each window's taps inside X, divided as the forward divides
//                      (count_include_pad both ways, ceil_mode overhang).
//   GlobalAveragePool  dY / spatial size;  GlobalMaxPool: dY at the forward's maximum.
// The Indices output (int64) carries no gradient. Float and double.
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/pool_backward.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// MaxPool's Indices as flat row-major positions: the forward's own output when usable.
Tensor max_pool_indices(const GradContext& ctx, const Tensor& x) {
  if (ctx.output_requested(1) && ctx.attr_int("storage_order", 0) == 0) {
    const Tensor& indices = ctx.output(1);
    if (indices.dtype() == ir::DType::kInt64) return indices;
  }
  PoolReduce r;
  r.kind = PoolKind::kMax;
  r.want_indices = true;
  const PoolGeometry g = pool_geometry(pool_attrs(ctx), x.shape(), ctx.where());
  return pool_forward_cpu(ctx.pool(), x, g, r, ctx.where())[1];
}

std::vector<Tensor> max_pool_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  d[0] = max_pool_backward_cpu(ctx.pool(), *dy, max_pool_indices(ctx, x), x.shape(), ctx.where());
  return d;
}

std::vector<Tensor> average_pool_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const PoolGeometry g = pool_geometry(pool_attrs(ctx), x.shape(), ctx.where());
  const bool count_include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  d[0] = average_pool_backward_cpu(ctx.pool(), *dy, g, count_include_pad, x.shape(), ctx.where());
  return d;
}

BackwardFn global_pool_grad(PoolKind kind) {
  return [kind](const GradContext& ctx) {
    std::vector<Tensor> d = grads::none(ctx.num_inputs());
    const Tensor* dy = ctx.doutput(0);
    if (dy == nullptr || !ctx.wants_grad(0)) return d;
    d[0] = global_pool_backward_cpu(ctx.pool(), ctx.input(0), *dy, kind, ctx.where());
    return d;
  };
}

}  // namespace

void register_pool_grads(OpRegistry& r) {
  r.set_backward("MaxPool", max_pool_grad_rule);
  r.set_backward("AveragePool", average_pool_grad_rule);
  r.set_backward("GlobalMaxPool", global_pool_grad(PoolKind::kMax));
  r.set_backward("GlobalAveragePool", global_pool_grad(PoolKind::kAverage));
}

}  // namespace scalec::kernels
