#pragma once
// Readings of attributes and argument inputs that an op's kernel and its shape rule share, so the
// two cannot disagree. Each is defined beside its kernel, in kernels/ops/<family>_ops.cpp.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "ir/dtype.h"
#include "ir/tensor.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

struct ConvAttrs;
struct PoolAttrs;

/// Binary ops of opsets 1-6 with broadcast=1: how many trailing 1s B's shape gets so that it lines
/// up with A at `axis` (default: B is a suffix of A).
int64_t legacy_broadcast_padding(const NodeAttrs& ctx, int64_t rank_a, int64_t rank_b);

/// PRelu's slope as the kernel broadcasts it: opsets 1-6 read a 1-D slope of size C (X's axis 1,
/// X of rank > 2) per channel, so it gets trailing 1s; otherwise `slope` unchanged (same storage).
ir::Tensor prelu_slope(const NodeAttrs& ctx, const ir::Tensor& x, const ir::Tensor& slope);

/// Clip 1-10's bounds from the `min`/`max` attributes: opsets 1-5 have no bound where one is
/// absent (nullopt); 6-10 default to the float range.
struct ClipBounds {
  std::optional<float> lo, hi;
};
ClipBounds clip_attribute_bounds(const NodeAttrs& ctx);

/// Cast's `to`: an int DataType, or (opsets 1-5) its name as a string such as "FLOAT".
ir::DType cast_target(const NodeAttrs& ctx);

/// BatchNormalization: true when the forward normalizes with the batch statistics (a training run,
/// training_mode at 14+, or statistics outputs requested at 1-13); its backward rule follows the same choice.
bool batch_norm_uses_batch_stats(const OpContext& ctx);

/// GroupNormalization: true when scale and bias hold one value per group (opsets 18-20), not per channel.
bool group_norm_per_group_affine(const NodeAttrs& ctx, const ir::Tensor& scale);

/// LayerNormalization's Mean/InvStdDev element type from stash_type (float or double).
ir::DType layer_norm_stat_dtype(const NodeAttrs& ctx);

/// The first opset where ReduceXxx takes its axes as input 1 instead of an attribute.
int64_t reduce_axes_input_since(std::string_view op_type);

/// The axes (normalized, sorted) a ReduceXxx node reduces over an input of rank `rank`: the `axes`
/// attribute before reduce_axes_input_since, else `axes_input` (nullopt: the input is omitted);
/// no axes mean all, or none with noop_with_empty_axes.
std::vector<int64_t> reduce_axes(const NodeAttrs& ctx, const std::optional<std::vector<int64_t>>& axes_input,
                                 int64_t rank);

/// TopK's k: the `k` attribute (opsets 1-9), else the one value of input K (`k_input`).
int64_t topk_k(const NodeAttrs& ctx, const std::vector<int64_t>& k_input);

/// Conv/ConvTranspose attributes as the node gives them (kernels/cpu/conv.h); in nn_ops.cpp.
ConvAttrs conv_attrs(const NodeAttrs& ctx);

/// MaxPool/AveragePool/LpPool window attributes (kernels/cpu/pool.h); kernel_shape is required.
PoolAttrs pool_attrs(const NodeAttrs& ctx);

}  // namespace scalec::kernels
