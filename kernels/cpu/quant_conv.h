#pragma once
// CPU kernels of ConvInteger and QLinearConv (opset 10+): N-D integer convolution by im2col and an
// int32 GEMM, with groups, strides, pads, dilations, auto_pad, per-output-channel weight zero
// points and (QLinearConv) scales, int32 bias and requantization to int8/uint8.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// Convolution attributes as the node gives them (empty = the ONNX default).
struct QConvAttrs {
  std::string auto_pad = "NOTSET";
  std::vector<int64_t> kernel_shape, strides, dilations, pads;
  int64_t group = 1;
};

/// ConvInteger: int32 y = conv(x - x_zero_point, w - w_zero_point), x_zero_point a scalar,
/// w_zero_point a scalar or one per output channel.
ir::Tensor conv_integer_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& w,
                                    const ir::Tensor* x_zero_point, const ir::Tensor* w_zero_point,
                                    const QConvAttrs& attrs, const std::string& where);

/// QLinearConv: y = saturate(round_half_even((conv(x - x_zp, w - w_zp) + bias) * x_scale * w_scale
/// / y_scale) + y_zp); w_scale and w_zp are scalars or one per output channel, the others scalars.
ir::Tensor qlinear_conv_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& x_scale,
                                    const ir::Tensor* x_zero_point, const ir::Tensor& w, const ir::Tensor& w_scale,
                                    const ir::Tensor* w_zero_point, const ir::Tensor& y_scale,
                                    const ir::Tensor* y_zero_point, const ir::Tensor* bias, const QConvAttrs& attrs,
                                    const std::string& where);

}  // namespace scalec::kernels
