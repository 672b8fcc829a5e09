#pragma once
// Shape building blocks shared by the nn, pool and quantization rules: sliding windows (Conv,
// ConvInteger, QLinearConv, the pooling ops) on kernels/common/window_size.h, and numpy matmul
// (MatMul, MatMulInteger, QLinearMatMul). Dims stay symbolic where the op passes them through.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/common/window_size.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels::shapes {

/// Window attributes for `rank` spatial axes with the ONNX defaults filled in (strides and
/// dilations 1, pads 0); errors name the node when a list has the wrong length or a bad value.
struct WindowAttrs {
  std::vector<int64_t> strides, dilations, pads;  ///< pads: begin..., end...
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
};
/// Reads strides, dilations, pads, auto_pad and ceil_mode of the node.
WindowAttrs window_attrs(const InferContext& ctx, size_t rank);

/// The spatial output dims of a window op over `in` (spatial dims only) with `kernel` sizes (nullopt
/// where unknown): each is known when its input size and kernel are (SAME needs only the input
/// size); error naming the node when a window does not fit its padded input.
Dims window_dims(const InferContext& ctx, const Dims& in, const std::vector<std::optional<int64_t>>& kernel,
                 const WindowAttrs& a);

/// The rank of a window op's tensors from X, else W (may be null), else kernel_shape; nullopt
/// when none tells. Error when X's rank is below 3 or W's differs from it.
std::optional<size_t> window_rank(const InferContext& ctx, const ir::TypeInfo& x, const ir::TypeInfo* w);

/// Y's dims of a convolution (Conv, ConvInteger, QLinearConv): X [N, C, in...] and W [M, C/group,
/// k...] give [N, M, out...]; kernel_shape, when given, must match W. Errors name the node when
/// channels, groups or kernel contradict each other. nullopt when the rank is unknown.
std::optional<Dims> conv_dims(const InferContext& ctx, const ir::TypeInfo& x, const ir::TypeInfo& w);

/// numpy.matmul's result dims (1-D operands, broadcast batch dims); error naming the node when the
/// inner dims differ or an operand is a scalar. nullopt when either rank is unknown.
std::optional<Dims> matmul_dims(const InferContext& ctx, const ir::TypeInfo& a, const ir::TypeInfo& b);

/// "3", "N" or "?" for error messages.
std::string dim_string(const ir::Dim& d);

/// True when `d` is a known number other than `v`.
inline bool dims_differ(const ir::Dim& d, int64_t v) { return d.value && *d.value != v; }
/// True when both dims are known numbers and differ.
inline bool dims_differ(const ir::Dim& a, const ir::Dim& b) { return a.value && b.value && *a.value != *b.value; }

}  // namespace scalec::kernels::shapes
