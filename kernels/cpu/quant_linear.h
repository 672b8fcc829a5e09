#pragma once
// CPU kernels of QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear (all opsets): the
// per-tensor, per-axis and blocked scale layouts, every integer, 4-bit and float8 quantized type.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// How scales map onto the elements of x, viewed as [outer, dim, inner] around the quantization
/// axis: element (o, d, i) uses scale o * outer_stride + (d / block) * dim_stride + i * inner_stride.
struct QuantLayout {
  int64_t outer = 1, dim = 1, inner = 1;
  int64_t block = 1;
  int64_t outer_stride = 0, dim_stride = 0, inner_stride = 0;
};

/// The layout for `x_shape` and `scale_shape`: per tensor (scale has one element), per axis (1-D
/// scale of x.shape[axis] elements) or blocked (block_size > 0: scale has x's rank and
/// ceil(x.shape[axis] / block_size) elements along axis). Throws Error(kBadInput) prefixed by
/// `where` when the shapes do not fit. `allow_axis` false (opset 10) admits only per tensor.
QuantLayout resolve_quant_layout(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& scale_shape,
                                 int64_t axis, int64_t block_size, bool allow_axis, const std::string& where);

/// Scale values (float, double, float16 or bfloat16 tensors) as floats.
std::vector<float> quant_scale_values(const ir::Tensor& scale, const std::string& where);

/// The representable range [lo, hi] of an integer quantized type (int4, uint4, int8 ... uint16, int32).
std::pair<int64_t, int64_t> quant_range(ir::DType t);

/// y = saturate(round_half_even(x / scale) + zero_point) as `out` (integer, 4-bit or float8; for
/// float8, zero_point must be 0 and `saturate` picks between the largest finite value and inf/NaN).
ir::Tensor quantize_linear_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                       const ir::Tensor* zero_point, const QuantLayout& layout, ir::DType out,
                                       bool saturate, const std::string& where);

/// y = (x - zero_point) * scale, with y of the scale's type.
ir::Tensor dequantize_linear_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                         const ir::Tensor* zero_point, const QuantLayout& layout,
                                         const std::string& where);

/// DynamicQuantizeLinear: uint8 y, float scalar y_scale and uint8 scalar y_zero_point, from the
/// range of x widened to include 0 (the ONNX formula, in float arithmetic).
std::vector<ir::Tensor> dynamic_quantize_linear_forward_cpu(ThreadPool& pool, const ir::Tensor& x,
                                                            const std::string& where);

}  // namespace scalec::kernels
