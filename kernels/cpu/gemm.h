#pragma once
// The GEMM core shared by Gemm, MatMul, Conv and ConvTranspose (and later the quantized ops):
// row-major matrices with leading dimensions, optional transposes, alpha and beta. Eigen does the
// product (kernels/cpu/gemm.cpp); nothing here exposes an Eigen type.
#include <cstdint>
#include <string>

#include "ir/dtype.h"
#include "ir/error.h"

namespace scalec::kernels {

class ThreadPool;

/// Shape and storage of one row-major product C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
/// op(A) = A^T when trans_a (A is then stored [K,M]); likewise for B. lda/ldb/ldc are the row
/// strides (elements) of A, B and C as stored. beta = 0 overwrites C (NaNs in C do not survive).
template <typename T>
struct GemmArgs {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  T alpha = T(1);
  const T* a = nullptr;
  int64_t lda = 0;
  const T* b = nullptr;
  int64_t ldb = 0;
  T beta = T(0);
  T* c = nullptr;
  int64_t ldc = 0;
};

/// Runs one product on the calling thread.
template <typename T>
void gemm(const GemmArgs<T>& g);

/// Runs one product, split over the pool by rows or columns of C when it is large enough to pay.
/// Must not be called from inside another parallel_for of the same pool (the pool does not nest).
template <typename T>
void gemm_parallel(ThreadPool& pool, const GemmArgs<T>& g);

/// Multiply-adds below which gemm_parallel stays on one thread (about 0.1 ms of work).
inline constexpr int64_t kGemmParallelMacs = int64_t{1} << 18;

/// Runs f(T{}) for the element types the GEMM core supports: float, double, int32, int64, uint32,
/// uint64 (the MatMul/Gemm types of ONNX, less float16/bfloat16).
template <typename F>
decltype(auto) dispatch_gemm(ir::DType t, const std::string& where, F&& f) {
  using ir::DType;
  switch (t) {
    case DType::kFloat: return f(float{});
    case DType::kDouble: return f(double{});
    case DType::kInt32: return f(int32_t{});
    case DType::kInt64: return f(int64_t{});
    case DType::kUInt32: return f(uint32_t{});
    case DType::kUInt64: return f(uint64_t{});
    default: throw_bad_input("{} does not support element type {}", where, ir::dtype_name(t));
  }
}

}  // namespace scalec::kernels
