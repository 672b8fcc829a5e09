#pragma once
// CPU kernels of FakeQuantize (com.scalec): quantize-dequantize in one op for quantization-aware
// training, per tensor or per channel, with its straight-through / LSQ backward
// (kernels/common/fake_quant_math.h has the formulas).
#include <cstdint>
#include <string>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// How x is fake-quantized: scale and zero point (null: 0) of one element (per tensor) or of
/// x.shape()[axis] elements (per channel), and the integer range.
struct FakeQuantArgs {
  const ir::Tensor* scale = nullptr;
  const ir::Tensor* zero_point = nullptr;
  int64_t axis = 0;  ///< normalized; read only per channel
  int64_t qmin = -128, qmax = 127;
};

/// y = (clamp(round(x / s) + z, qmin, qmax) - z) * s, x float or double.
ir::Tensor fake_quant_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const FakeQuantArgs& a, const std::string& where);

/// The gradients of FakeQuantize: dx (straight through inside the range, zero outside) when `dx`
/// is given, and dscale (LSQ: summed per channel, times `grad_scale`) when `dscale` is given.
void fake_quant_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const FakeQuantArgs& a, const ir::Tensor& dy,
                             double grad_scale, ir::Tensor* dx, ir::Tensor* dscale, const std::string& where);

}  // namespace scalec::kernels
