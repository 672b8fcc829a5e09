#pragma once
// Conv and ConvTranspose on the CPU: attribute resolution (pads, auto_pad, output sizes) and the
// kernels (im2col + GEMM, GEMM + col2im). Dimension letters: X [N, C, in...], Conv W [M, C/group,
// k...], ConvTranspose W [C, M/group, k...], Y [N, M, out...], B [M].
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// The most spatial dimensions the CPU convolutions handle (1-D, 2-D and 3-D).
inline constexpr size_t kMaxConvSpatialRank = 3;

/// Conv/ConvTranspose attributes as the node gives them (empty vectors: attribute absent).
struct ConvAttrs {
  std::string auto_pad = "NOTSET";
  int64_t group = 1;
  std::vector<int64_t> kernel_shape, strides, dilations, pads;
  std::vector<int64_t> output_padding, output_shape;  ///< ConvTranspose only
};

/// A resolved convolution. Spatial arrays are padded to 3 dims with leading size-1 dims (kernel 1,
/// stride 1, dilation 1, pad 0), so every kernel is one 3-D loop nest. For ConvTranspose `in` is
/// still X's spatial size and `out` Y's; `pad_begin` is where Y starts inside the full result.
struct ConvGeometry {
  size_t rank = 0;  ///< spatial dims of the model's tensors (1..3)
  int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
  std::array<int64_t, 3> in{1, 1, 1}, kernel{1, 1, 1}, out{1, 1, 1};
  std::array<int64_t, 3> stride{1, 1, 1}, dilation{1, 1, 1}, pad_begin{0, 0, 0};

  /// Y's shape [N, M, out...] with the model's spatial rank.
  std::vector<int64_t> output_shape() const;
};

/// Checks shapes and attributes of a Conv and resolves pads and output sizes.
ConvGeometry conv_geometry(const ConvAttrs& attrs, const std::vector<int64_t>& x_shape,
                           const std::vector<int64_t>& w_shape, const std::string& where);
/// The same for ConvTranspose (output_shape, output_padding, and auto_pad as the spec defines them).
ConvGeometry conv_transpose_geometry(const ConvAttrs& attrs, const std::vector<int64_t>& x_shape,
                                     const std::vector<int64_t>& w_shape, const std::string& where);

/// Number of positions in a (depth, height, width) extent.
inline int64_t conv_volume(const std::array<int64_t, 3>& a) { return a[0] * a[1] * a[2]; }

/// Refuses X, W and B of different element types, and a B that is not [out_channels].
void check_conv_operands(const ir::Tensor& x, const ir::Tensor& w, const ir::Tensor* bias, const ConvGeometry& g,
                         const std::string& where);

/// A pointwise activation Conv applies to each output block right after its GEMM, while it is in
/// cache: Relu, or Clip with optional scalar bounds (held as double: exact for float and double).
struct ConvEpilogue {
  enum class Kind { kNone, kRelu, kClip } kind = Kind::kNone;
  std::optional<double> lo, hi;  ///< Clip only; never NaN
};

/// Y = act(Conv(X, W) + B) (bias may be null; act from `epilogue`, none by default); float and double.
ir::Tensor conv_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& w, const ir::Tensor* bias,
                            const ConvGeometry& g, const std::string& where, const ConvEpilogue& epilogue = {});
/// Y = ConvTranspose(X, W) + B (bias may be null); float and double.
ir::Tensor conv_transpose_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& w,
                                      const ir::Tensor* bias, const ConvGeometry& g, const std::string& where);

/// Positions o in [0, n_out) with 0 <= o * stride + offset < n_in, as [first, last + 1).
inline std::array<int64_t, 2> conv_valid_range(int64_t n_out, int64_t n_in, int64_t stride, int64_t offset) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t top = n_in - 1 - offset;  // o * stride <= top
  int64_t hi = top < 0 ? 0 : top / stride + 1;
  if (hi > n_out) hi = n_out;
  if (lo > hi) lo = hi;
  return {lo, hi};
}

}  // namespace scalec::kernels
