#pragma once
// The integer GEMM under MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv.
#include <cstdint>

namespace scalec::kernels {

/// c[i * ldc + j] = sum_p a[i * k + p] * bt[j * k + p] for i < m, j < n: int16 operands (zero-point
/// centred 8-bit values, so |v| <= 255 and each product fits easily), int32 sums. B is given
/// transposed so that both operands are read contiguously along k.
void qgemm_s16(const int16_t* a, const int16_t* bt, int32_t* c, int64_t m, int64_t n, int64_t k, int64_t ldc);

}  // namespace scalec::kernels
