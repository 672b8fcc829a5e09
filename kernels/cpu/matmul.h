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

}  // namespace scalec::kernels
