// Normalization and softmax ops: BatchNormalization (opsets 1-22; training mode with batch
// statistics and running-stat outputs), LayerNormalization (17-22), InstanceNormalization (1-22),
// GroupNormalization (18-20 with per-group scale/bias, 21-22 per channel), LpNormalization (1-22),
// MeanVarianceNormalization (9-22), Softmax, LogSoftmax, Hardmax (1-12: 2-D coercion at `axis`,
// 13-22: the one axis).
#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "kernels/cpu/normalization.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/softmax.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

std::vector<Tensor> batch_norm(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor& bias = ctx.input(2);
  const Tensor& mean = ctx.input(3);
  const Tensor& var = ctx.input(4);
  const bool training = batch_norm_uses_batch_stats(ctx);
  if (comm::Communicator* ranks = training ? comm::sync_batch_norm_comm() : nullptr) {
    BatchNormOutputs o = batch_norm_forward_sync_cpu(ctx.pool(), x, scale, bias, mean, var, ctx.attr_float("epsilon", 1e-5f),
                                                     ctx.attr_float("momentum", 0.9f),
                                                     [ranks](std::span<double> sums) { ranks->all_reduce_sum(sums); }, ctx.where());
    return {o.y, o.running_mean, o.running_var, o.saved_mean, o.saved_var};
  }
  BatchNormOutputs o = batch_norm_forward_cpu(ctx.pool(), x, scale, bias, mean, var, ctx.attr_float("epsilon", 1e-5f),
                                              training, ctx.attr_float("momentum", 0.9f), ctx.where());
  return {o.y, o.running_mean, o.running_var, o.saved_mean, o.saved_var};
}

std::vector<Tensor> layer_norm(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.rank());
  LayerNormOutputs o = layer_norm_forward_cpu(ctx.pool(), x, scale, bias, axis, ctx.attr_float("epsilon", 1e-5f),
                                              layer_norm_stat_dtype(ctx), ctx.where());
  return {o.y, o.mean, o.inv_std_dev};
}

std::vector<Tensor> group_norm(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor& bias = ctx.input(2);
  if (!ctx.has_attr("num_groups")) throw_bad_input("{} the attribute num_groups is required", ctx.where());
  const int64_t groups = ctx.attr_int("num_groups", 1);
  return {group_norm_forward_cpu(ctx.pool(), x, scale, bias, groups, ctx.attr_float("epsilon", 1e-5f),
                                 group_norm_per_group_affine(ctx, scale), ctx.where())};
}

ForwardFn softmax_op(SoftmaxKind kind) {
  return [kind](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    const bool coerce_2d = ctx.opset() < 13;
    return std::vector<Tensor>{
        softmax_forward_cpu(kind, ctx.pool(), x, softmax_axis(ctx, x.rank()), coerce_2d, ctx.where())};
  };
}

}  // namespace

// Opsets 1-13 train when the node asks for the statistics outputs (as ONNX Runtime decides);
// 14+ say so with training_mode; a training run (RunMode) always does.
bool batch_norm_uses_batch_stats(const OpContext& ctx) {
  bool training = ctx.mode().training;
  if (ctx.opset() >= 14) {
    training = training || ctx.attr_int("training_mode", 0) != 0;
  } else {
    for (size_t i = 1; i < ctx.num_outputs(); ++i) training = training || ctx.output_requested(i);
  }
  return training;
}

// Opset 18 defined scale and bias per group; 21 per channel. Opset-18 models that already carry
// per-channel parameters (what exporters wrote) are read per channel.
bool group_norm_per_group_affine(const NodeAttrs& ctx, const ir::Tensor& scale) {
  return ctx.opset() < 21 && scale.numel() == ctx.attr_int("num_groups", 1);
}

ir::DType layer_norm_stat_dtype(const NodeAttrs& ctx) {
  const int64_t stash = ctx.attr_int("stash_type", 1);
  if (stash == static_cast<int64_t>(ir::DType::kDouble)) return ir::DType::kDouble;
  if (stash != static_cast<int64_t>(ir::DType::kFloat)) {
    throw_bad_input("{} stash_type {} is not supported (float or double)", ctx.where(), stash);
  }
  return ir::DType::kFloat;
}

std::vector<int64_t> mvn_axes(const NodeAttrs& ctx, int64_t rank) {
  return reduce_normalize_axes(ctx.attr_ints("axes", {0, 2, 3}), rank, ctx.where());
}

int64_t softmax_axis(const NodeAttrs& ctx, int64_t rank) {
  return normalize_axis(ctx, ctx.attr_int("axis", ctx.opset() < 13 ? 1 : -1), rank);
}

void register_normalization_ops(OpRegistry& r) {
  r.add("BatchNormalization", 1, kLatestOpset, batch_norm);
  r.add("LayerNormalization", 17, kLatestOpset, layer_norm);
  r.add("InstanceNormalization", 1, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{instance_norm_forward_cpu(ctx.pool(), ctx.input(0), ctx.input(1), ctx.input(2),
                                                         ctx.attr_float("epsilon", 1e-5f), ctx.where())};
  });
  r.add("GroupNormalization", 18, kLatestOpset, group_norm);
  r.add("LpNormalization", 1, kLatestOpset, [](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.rank());
    return std::vector<Tensor>{lp_norm_forward_cpu(ctx.pool(), x, axis, ctx.attr_int("p", 2), ctx.where())};
  });
  r.add("MeanVarianceNormalization", 9, kLatestOpset, [](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    return std::vector<Tensor>{mvn_forward_cpu(ctx.pool(), x, mvn_axes(ctx, x.rank()), ctx.where())};
  });
  const std::pair<const char*, SoftmaxKind> softmaxes[] = {
      {"Softmax", SoftmaxKind::kSoftmax}, {"LogSoftmax", SoftmaxKind::kLogSoftmax}, {"Hardmax", SoftmaxKind::kHardmax}};
  for (const auto& [name, kind] : softmaxes) {
    r.add(name, 1, 12, softmax_op(kind));
    r.add(name, 13, kLatestOpset, softmax_op(kind));
  }
}

}  // namespace scalec::kernels
