// Backward rules of the normalization family: BatchNormalization (training mode: batch statistics,
// gradient also through them and through the running/saved statistics outputs; inference mode:
// mean/var are constants; chosen by batch_norm_uses_batch_stats, as the forward chooses),
// LayerNormalization (with or without B; also through Mean/InvStdDev), InstanceNormalization,
// GroupNormalization (per-channel and per-group parameters), LpNormalization,
// MeanVarianceNormalization, Softmax and LogSoftmax (both the 2-D coercion of opsets 1-12 and the
// one axis of 13+, from the forward output y) and Hardmax (gradient 0 almost everywhere). The
// computing kernels are kernels/cpu/normalization_backward.cpp and softmax_backward.cpp. No
// gradient goes to BatchNormalization's input mean/var.
#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "kernels/cpu/normalization.h"
#include "kernels/cpu/softmax.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// into += s * (the gradient of output i), elementwise (into sized on first use); nothing when none reaches it.
void add_stat_grad(const GradContext& ctx, size_t i, double s, std::vector<double>& into) {
  const Tensor* g = ctx.doutput(i);
  if (g == nullptr) return;
  into.resize(static_cast<size_t>(g->numel()), 0.0);
  for (int64_t k = 0; k < g->numel(); ++k) into[static_cast<size_t>(k)] += s * g->element_as_double(k);
}

// dy, or zeros like x when only the statistics outputs get a gradient.
Tensor dy_or_zeros(const GradContext& ctx, const Tensor& x) {
  return ctx.doutput(0) ? *ctx.doutput(0) : Tensor(x.dtype(), x.shape());
}

// BatchNormalization: outputs Y, running_mean, running_var (and saved_mean, saved_var at 1-13).
// running = input * momentum + batch * (1 - momentum), saved = batch, so the batch statistics get
// (1 - momentum) * drunning + dsaved.
std::vector<Tensor> batch_norm_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor& x = ctx.input(0);
  const bool training = batch_norm_uses_batch_stats(ctx);
  std::vector<double> dmean, dvar;
  if (training) {
    const double momentum = ctx.attr_float("momentum", 0.9f);
    add_stat_grad(ctx, 1, 1 - momentum, dmean);
    add_stat_grad(ctx, 2, 1 - momentum, dvar);
    add_stat_grad(ctx, 3, 1.0, dmean);
    add_stat_grad(ctx, 4, 1.0, dvar);
  }
  const bool has_dy = ctx.doutput(0) != nullptr;
  if (!has_dy && dmean.empty() && dvar.empty()) return d;
  const NormWants want{ctx.wants_grad(0), ctx.wants_grad(1) && has_dy, ctx.wants_grad(2) && has_dy};
  if (!want.x && !want.scale && !want.bias) return d;
  comm::Communicator* ranks = training ? comm::sync_batch_norm_comm() : nullptr;
  NormGrads g = ranks ? batch_norm_backward_sync_cpu(ctx.pool(), x, ctx.input(1), dy_or_zeros(ctx, x), ctx.attr_float("epsilon", 1e-5f),
                                                     dmean, dvar, want,
                                                     [ranks](std::span<double> sums) { ranks->all_reduce_sum(sums); }, ctx.where())
                      : batch_norm_backward_cpu(ctx.pool(), x, ctx.input(1), ctx.input(2), ctx.input(3), ctx.input(4),
                                                dy_or_zeros(ctx, x), ctx.attr_float("epsilon", 1e-5f), training, dmean, dvar,
                                                want, ctx.where());
  d[0] = std::move(g.dx);
  d[1] = std::move(g.dscale);
  d[2] = std::move(g.dbias);
  return d;
}

// LayerNormalization: outputs Y, Mean, InvStdDev.
std::vector<Tensor> layer_norm_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor& x = ctx.input(0);
  std::vector<double> dmean, dinv_std;
  add_stat_grad(ctx, 1, 1.0, dmean);
  add_stat_grad(ctx, 2, 1.0, dinv_std);
  const bool has_dy = ctx.doutput(0) != nullptr;
  if (!has_dy && dmean.empty() && dinv_std.empty()) return d;
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const NormWants want{ctx.wants_grad(0), ctx.wants_grad(1) && has_dy, ctx.wants_grad(2) && has_dy};
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.rank());
  NormGrads g = layer_norm_backward_cpu(ctx.pool(), x, ctx.input(1), bias, axis, dy_or_zeros(ctx, x),
                                        ctx.attr_float("epsilon", 1e-5f), dmean, dinv_std, want, ctx.where());
  d[0] = std::move(g.dx);
  d[1] = std::move(g.dscale);
  if (bias) d[2] = std::move(g.dbias);
  return d;
}

std::vector<Tensor> instance_norm_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const NormWants want{ctx.wants_grad(0), ctx.wants_grad(1), ctx.wants_grad(2)};
  NormGrads g = instance_norm_backward_cpu(ctx.pool(), ctx.input(0), ctx.input(1), ctx.input(2), *dy,
                                           ctx.attr_float("epsilon", 1e-5f), want, ctx.where());
  d[0] = std::move(g.dx);
  d[1] = std::move(g.dscale);
  d[2] = std::move(g.dbias);
  return d;
}

std::vector<Tensor> group_norm_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const Tensor& scale = ctx.input(1);
  const NormWants want{ctx.wants_grad(0), ctx.wants_grad(1), ctx.wants_grad(2)};
  NormGrads g = group_norm_backward_cpu(ctx.pool(), ctx.input(0), scale, ctx.input(2), *dy, ctx.attr_int("num_groups", 1),
                                        ctx.attr_float("epsilon", 1e-5f), group_norm_per_group_affine(ctx, scale), want,
                                        ctx.where());
  d[0] = std::move(g.dx);
  d[1] = std::move(g.dscale);
  d[2] = std::move(g.dbias);
  return d;
}

std::vector<Tensor> lp_norm_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.rank());
  d[0] = lp_norm_backward_cpu(ctx.pool(), x, ctx.output(0), *dy, axis, ctx.attr_int("p", 2), ctx.where());
  return d;
}

std::vector<Tensor> mvn_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !ctx.wants_grad(0)) return d;
  const Tensor& x = ctx.input(0);
  d[0] = mvn_backward_cpu(ctx.pool(), x, *dy, mvn_axes(ctx, x.rank()), ctx.where());
  return d;
}

// Softmax / LogSoftmax from y; Hardmax is piecewise constant: dx = 0.
BackwardFn softmax_grad(SoftmaxKind kind) {
  return [kind](const GradContext& ctx) {
    std::vector<Tensor> d = grads::none(ctx.num_inputs());
    const Tensor* dy = ctx.doutput(0);
    if (dy == nullptr || !ctx.wants_grad(0)) return d;
    const Tensor& x = ctx.input(0);
    if (kind == SoftmaxKind::kHardmax) {
      d[0] = Tensor(x.dtype(), x.shape());
      return d;
    }
    const bool coerce_2d = ctx.opset() < 13;
    d[0] =
        softmax_backward_cpu(kind, ctx.pool(), ctx.output(0), *dy, softmax_axis(ctx, x.rank()), coerce_2d, ctx.where());
    return d;
  };
}

}  // namespace

void register_normalization_grads(OpRegistry& r) {
  r.set_backward("BatchNormalization", batch_norm_grad_rule);
  r.set_backward("LayerNormalization", layer_norm_grad_rule);
  r.set_backward("InstanceNormalization", instance_norm_grad_rule);
  r.set_backward("GroupNormalization", group_norm_grad_rule);
  r.set_backward("LpNormalization", lp_norm_grad_rule);
  r.set_backward("MeanVarianceNormalization", mvn_grad_rule);
  r.set_backward("Softmax", softmax_grad(SoftmaxKind::kSoftmax));
  r.set_backward("LogSoftmax", softmax_grad(SoftmaxKind::kLogSoftmax));
  r.set_backward("Hardmax", softmax_grad(SoftmaxKind::kHardmax));
}

}  // namespace scalec::kernels
