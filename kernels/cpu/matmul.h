#pragma once
// MatMul on the CPU with numpy semantics: 1-D operands, batched N-D operands whose batch
// dimensions broadcast.
#include <string>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// numpy.matmul(a, b) for the GEMM element types; errors (rank 0, K mismatch, batch dims that do
/// not broadcast, unsupported dtype) throw Error(kBadInput) prefixed by `where`.
ir::Tensor matmul_forward_cpu(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& b, const std::string& where);

/// matmul(a, b) + bias for a float/double matrix b [K, N] and bias [N] of the same type, adding
/// the bias in place on the product (no second tensor, no broadcasting pass); bitwise equal to
/// MatMul then Add.
ir::Tensor matmul_bias_forward_cpu(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& b, const ir::Tensor& bias,
                                   const std::string& where);

}  // namespace scalec::kernels
