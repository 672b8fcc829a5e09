#pragma once
// Gemm and MatMul backward on the CPU: the operand gradients as products on the GEMM core
// (kernels/cpu/gemm.h), float and double.
#include <string>
#include <utility>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// Gradients of Y = alpha * op(A) * op(B) (+ beta C, whose gradient the rule takes by reduction);
/// A and B stored as given (trans_a/trans_b as Gemm's transA/transB). Returns {dA, dB}, each an
/// empty Tensor where not wanted.
std::pair<ir::Tensor, ir::Tensor> gemm_backward_cpu(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& b,
                                                    const ir::Tensor& dy, bool trans_a, bool trans_b, double alpha,
                                                    bool want_da, bool want_db, const std::string& where);

/// Gradients of Y = numpy.matmul(A, B): 1-D operands, and batch dimensions that broadcast (the
/// products of a broadcast operand are summed into its matrices). Returns {dA, dB}, each an empty
/// Tensor where not wanted.
std::pair<ir::Tensor, ir::Tensor> matmul_backward_cpu(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& b,
                                                      const ir::Tensor& dy, bool want_da, bool want_db,
                                                      const std::string& where);

}  // namespace scalec::kernels
