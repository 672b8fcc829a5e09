#pragma once
// CPU kernels of MatMulInteger (opset 10+) and QLinearMatMul (opsets 10 and 21): integer matrix
// products with numpy matmul broadcasting, int32 accumulation, per-tensor, per-row (a) and
// per-column (b) zero points and scales.
#include <string>

#include "ir/tensor.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// MatMulInteger: int32 Y = (A - a_zero_point) x (B - b_zero_point). A zero point is a scalar, an
/// M-vector (per row of A) or [..., M, 1]; B's a scalar, an N-vector (per column) or [..., 1, N].
ir::Tensor matmul_integer_forward_cpu(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& b,
                                      const ir::Tensor* a_zero_point, const ir::Tensor* b_zero_point,
                                      const std::string& where);

/// QLinearMatMul: y = saturate(round_half_even(acc * a_scale * b_scale / y_scale) + y_zero_point)
/// with acc the MatMulInteger product; the scale ratio is computed in the scales' precision.
/// Scales follow their zero points' layouts; y's scale and zero point broadcast to the output.
ir::Tensor qlinear_matmul_forward_cpu(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& a_scale,
                                      const ir::Tensor* a_zero_point, const ir::Tensor& b, const ir::Tensor& b_scale,
                                      const ir::Tensor* b_zero_point, const ir::Tensor& y_scale,
                                      const ir::Tensor* y_zero_point, const std::string& where);

}  // namespace scalec::kernels
