#pragma once
// Readings of attributes and argument inputs that an op's kernel, its shape rule and its backward
// rule share, so they cannot disagree. Each is defined beside its kernel, in
// kernels/ops/<family>_ops.cpp; normalize_axis, which every family reads, in op_registry.cpp.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "ir/dtype.h"
#include "ir/tensor.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

struct ConvAttrs;
struct RnnAttrs;
struct RnnInputs;
enum class RnnCell;
struct PoolAttrs;
struct UnaryParams;
enum class ReduceKind;

/// `axis` in [-rank, rank) mapped to [0, rank); Error(kBadInput) naming the node otherwise.
int64_t normalize_axis(const NodeAttrs& ctx, int64_t axis, int64_t rank);

/// The elements of an integer tensor argument (axes, indices, K; int32 or int64, other integer
/// types too) as int64; Error(kBadInput) naming `what` for a float or bool tensor. In tensor_ops.cpp.
std::vector<int64_t> int_values(const NodeAttrs& ctx, const ir::Tensor& t, const char* what);

/// The single element of an integer tensor (a scalar or a 1-element tensor) as int64.
int64_t int_scalar(const NodeAttrs& ctx, const ir::Tensor& t, const char* what);

/// The alpha/beta/gamma attributes of a pointwise activation or unary math op, each defaulting to
/// the ONNX value for the node's op (LeakyRelu alpha 0.01, HardSigmoid 0.2/0.5, Elu, Celu and
/// ThresholdedRelu alpha 1, Selu's constants; 0 where the op has no such attribute).
UnaryParams activation_params(const NodeAttrs& ctx);

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

/// Shape: the [start, end) range of input axes it returns (start/end attributes from opset 15), for
/// its kernel, its shape rule and shape inference's folding of its value. In tensor_ops.cpp.
std::pair<int64_t, int64_t> shape_range(const NodeAttrs& ctx, int64_t rank);

/// MeanVarianceNormalization's `axes` (default [0, 2, 3]) normalized and sorted for `rank`.
std::vector<int64_t> mvn_axes(const NodeAttrs& ctx, int64_t rank);

/// Softmax, LogSoftmax, Hardmax: `axis` normalized for `rank`; it defaults to 1 in opsets 1-12
/// (where the input is coerced to 2-D at the axis) and to -1 from 13.
int64_t softmax_axis(const NodeAttrs& ctx, int64_t rank);

/// A ReduceXxx op (ONNX name) and the reduction it computes.
struct ReduceOpKind {
  const char* op_type;
  ReduceKind kind;
};
/// Every ReduceXxx op, for the registrations of their kernels, shape rules and backward rules.
std::span<const ReduceOpKind> reduce_op_kinds();

/// The first opset where ReduceXxx takes its axes as input 1 instead of an attribute.
int64_t reduce_axes_input_since(std::string_view op_type);

/// The axes (normalized, sorted) a ReduceXxx node reduces over an input of rank `rank`: the `axes`
/// attribute before reduce_axes_input_since, else `axes_input` (nullopt: the input is omitted);
/// no axes mean all, or none with noop_with_empty_axes.
std::vector<int64_t> reduce_axes(const NodeAttrs& ctx, const std::optional<std::vector<int64_t>>& axes_input,
                                 int64_t rank);
/// The same for a running node, whose axes input (1) is known.
std::vector<int64_t> reduce_axes(const OpContext& ctx, int64_t rank);

/// CumSum's axis: input 1, a scalar (or one-element 1-D tensor), normalized for `rank`.
int64_t cumsum_axis(const OpContext& ctx, int64_t rank);

/// TopK's k: the `k` attribute (opsets 1-9), else the one value of input K (`k_input`).
int64_t topk_k(const NodeAttrs& ctx, const std::vector<int64_t>& k_input);

/// Conv/ConvTranspose attributes as the node gives them (kernels/cpu/conv.h); in nn_ops.cpp.
ConvAttrs conv_attrs(const NodeAttrs& ctx);

/// LSTM/GRU/RNN attributes resolved with the ONNX defaults (activations per direction with the
/// alpha/beta each consumes, layout from opset 14); Error(kBadInput) naming the node when one is
/// invalid. In recurrent_ops.cpp.
RnnAttrs recurrent_attrs(const NodeAttrs& ctx);

/// A recurrent node's inputs by name (X W R B sequence_lens initial_h, then LSTM's initial_c P).
RnnInputs recurrent_inputs(const OpContext& ctx, RnnCell cell);

/// MaxPool/AveragePool/LpPool window attributes (kernels/cpu/pool.h); kernel_shape is required.
PoolAttrs pool_attrs(const NodeAttrs& ctx);

}  // namespace scalec::kernels
