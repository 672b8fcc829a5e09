// GEMM core on Eigen: Maps over row-major storage with outer strides, noalias products.
#include "kernels/cpu/gemm.h"

#include <algorithm>

#include <Eigen/Core>

#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using MutMap = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// c = alpha * a * b + beta * c for Eigen expressions a and b (already transposed as needed).
template <typename T, typename A, typename B>
void product(const A& a, const B& b, T alpha, T beta, MutMap<T>& c) {
  if (beta == T(0)) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

}  // namespace

template <typename T>
void gemm(const GemmArgs<T>& g) {
  if (g.m <= 0 || g.n <= 0) return;
  MutMap<T> c(g.c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
  if (g.k <= 0) {  // an empty sum: only the beta term remains
    if (g.beta == T(0)) c.setZero();
    else if (g.beta != T(1)) c *= g.beta;
    return;
  }
  ConstMap<T> a(g.a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, Eigen::OuterStride<>(g.lda));
  ConstMap<T> b(g.b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, Eigen::OuterStride<>(g.ldb));
  if (g.trans_a && g.trans_b) product(a.transpose(), b.transpose(), g.alpha, g.beta, c);
  else if (g.trans_a) product(a.transpose(), b, g.alpha, g.beta, c);
  else if (g.trans_b) product(a, b.transpose(), g.alpha, g.beta, c);
  else product(a, b, g.alpha, g.beta, c);
}

template <typename T>
void gemm_parallel(ThreadPool& pool, const GemmArgs<T>& g) {
  const int64_t macs = g.m * g.n * std::max<int64_t>(g.k, 1);
  if (pool.threads() <= 1 || macs < kGemmParallelMacs) {
    gemm(g);
    return;
  }
  // Split the larger side of C into blocks; each block is an independent product, so the result
  // depends only on the sizes and the thread count (fixed chunking), not on scheduling.
  const bool split_rows = g.m >= g.n;
  const int64_t extent = split_rows ? g.m : g.n;
  const int64_t grain = std::max<int64_t>(16, (extent + pool.threads() - 1) / pool.threads());
  pool.parallel_for(extent, grain, [&](int64_t lo, int64_t hi) {
    GemmArgs<T> part = g;
    if (split_rows) {
      part.m = hi - lo;
      part.a = g.trans_a ? g.a + lo : g.a + lo * g.lda;
      part.c = g.c + lo * g.ldc;
    } else {
      part.n = hi - lo;
      part.b = g.trans_b ? g.b + lo * g.ldb : g.b + lo;
      part.c = g.c + lo;
    }
    gemm(part);
  });
}

#define SCALEC_GEMM_INSTANTIATE(T)            \
  template void gemm<T>(const GemmArgs<T>&); \
  template void gemm_parallel<T>(ThreadPool&, const GemmArgs<T>&);
SCALEC_GEMM_INSTANTIATE(float)
SCALEC_GEMM_INSTANTIATE(double)
SCALEC_GEMM_INSTANTIATE(int32_t)
SCALEC_GEMM_INSTANTIATE(int64_t)
SCALEC_GEMM_INSTANTIATE(uint32_t)
SCALEC_GEMM_INSTANTIATE(uint64_t)
#undef SCALEC_GEMM_INSTANTIATE

}  // namespace scalec::kernels
