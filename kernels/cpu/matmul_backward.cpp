// Gemm and MatMul backward. Dimension letters as the forward: A [..., M, K], B [..., K, N],
// Y [batch..., M, N].
//   Gemm (Y = alpha op(A) op(B)):  d op(A) = alpha dY op(B)^T,  d op(B) = alpha op(A)^T dY,
//     and dA = d op(A)^T where transA (likewise B), so each is one product with the right flags.
//   MatMul (per batch i, A_i and B_i the broadcast operands):  dA_i = dY_i B_i^T,  dB_i = A_i^T dY_i;
//     a matrix of A (or B) that several batches read gets the sum of their products. When B is one
//     matrix shared by every batch (a Linear layer), A's batch folds into M: dA = dY B^T and
//     dB = A^T dY are each a single product, as in the forward.
#include "kernels/cpu/matmul_backward.h"

#include <algorithm>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// For each matrix j of an operand with `count` matrices, the output batches i that read it
// (offsets[i] == j), in increasing i.
std::vector<std::vector<int64_t>> readers(const std::vector<int64_t>& offsets, int64_t count) {
  std::vector<std::vector<int64_t>> r(static_cast<size_t>(count));
  for (size_t i = 0; i < offsets.size(); ++i) r[static_cast<size_t>(offsets[i])].push_back(static_cast<int64_t>(i));
  return r;
}

// Runs product(i, beta) for every reader i of every destination matrix, the first with beta 0 and
// the rest adding (beta 1), in reader order. Destinations run in parallel when there are enough of
// them (or the products are small); otherwise one after another with each product split.
template <typename T, typename Product>
void accumulate(ThreadPool& pool, const std::vector<std::vector<int64_t>>& dest, int64_t macs, Product&& product) {
  const auto count = static_cast<int64_t>(dest.size());
  auto one = [&](int64_t j, bool parallel) {
    const auto& list = dest[static_cast<size_t>(j)];
    for (size_t r = 0; r < list.size(); ++r) {
      GemmArgs<T> g = product(list[r], j);
      g.beta = r == 0 ? T(0) : T(1);
      if (parallel) gemm_parallel(pool, g);
      else gemm(g);
    }
  };
  if (count >= pool.threads() || macs < kGemmParallelMacs) {
    pool.parallel_for(count, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) one(j, false);
    });
  } else {
    for (int64_t j = 0; j < count; ++j) one(j, true);
  }
}

// Matrix offsets (in matrices) of an operand with batch dims `own` for each batch of `batch`.
std::vector<int64_t> batch_offsets(const std::vector<int64_t>& own, const std::vector<int64_t>& batch) {
  const std::vector<int64_t> stride = broadcast_strides(own, batch);
  const int64_t batches = shape_numel(batch);
  std::vector<int64_t> off(static_cast<size_t>(batches));
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t i = 0; i < batches; ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < batch.size(); ++d) o += idx[d] * stride[d];
    off[static_cast<size_t>(i)] = o;
    for (size_t d = batch.size(); d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return off;
}

void check_dy(const Tensor& dy, ir::DType dtype, const std::vector<int64_t>& shape, const std::string& where) {
  if (dy.dtype() != dtype || dy.shape() != shape) {
    throw_internal("{} dY is {} {}, expected {} {}", where, ir::dtype_name(dy.dtype()), ir::shape_to_string(dy.shape()),
                   ir::dtype_name(dtype), ir::shape_to_string(shape));
  }
}

}  // namespace

std::pair<Tensor, Tensor> gemm_backward_cpu(ThreadPool& pool, const Tensor& a, const Tensor& b, const Tensor& dy,
                                            bool trans_a, bool trans_b, double alpha, bool want_da, bool want_db,
                                            const std::string& where) {
  const int64_t m = a.shape()[trans_a ? 1 : 0], n = b.shape()[trans_b ? 0 : 1];
  check_dy(dy, a.dtype(), {m, n}, where);
  std::pair<Tensor, Tensor> r;
  if (want_da) r.first = Tensor(a.dtype(), a.shape());
  if (want_db) r.second = Tensor(b.dtype(), b.shape());
  dispatch_float(a.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.values<T>().data();
    const T* pb = b.values<T>().data();
    const T* pdy = dy.values<T>().data();
    const int64_t lda = a.shape()[1], ldb = b.shape()[1];
    if (want_da && a.numel() > 0) {
      GemmArgs<T> g;
      g.alpha = static_cast<T>(alpha);
      if (!trans_a) {  // dA[M, K] = alpha dY[M, N] op(B)^T
        g.m = m, g.n = lda, g.k = n;
        g.a = pdy, g.lda = n;
        g.b = pb, g.ldb = ldb, g.trans_b = !trans_b;
      } else {  // dA[K, M] = alpha op(B)[K, N] dY^T
        g.m = a.shape()[0], g.n = m, g.k = n;
        g.a = pb, g.lda = ldb, g.trans_a = trans_b;
        g.b = pdy, g.ldb = n, g.trans_b = true;
      }
      g.c = r.first.mutable_values<T>().data(), g.ldc = lda;
      gemm_parallel(pool, g);
    }
    if (want_db && b.numel() > 0) {
      GemmArgs<T> g;
      g.alpha = static_cast<T>(alpha);
      if (!trans_b) {  // dB[K, N] = alpha op(A)^T dY[M, N]
        g.m = b.shape()[0], g.n = n, g.k = m;
        g.a = pa, g.lda = lda, g.trans_a = !trans_a;
        g.b = pdy, g.ldb = n;
      } else {  // dB[N, K] = alpha dY^T op(A)[M, K]
        g.m = n, g.n = ldb, g.k = m;
        g.a = pdy, g.lda = n, g.trans_a = true;
        g.b = pa, g.ldb = lda, g.trans_b = trans_a;
      }
      g.c = r.second.mutable_values<T>().data(), g.ldc = ldb;
      gemm_parallel(pool, g);
    }
    return 0;
  });
  return r;
}

std::pair<Tensor, Tensor> matmul_backward_cpu(ThreadPool& pool, const Tensor& a, const Tensor& b, const Tensor& dy,
                                              bool want_da, bool want_db, const std::string& where) {
  std::vector<int64_t> sa = a.shape(), sb = b.shape();
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const std::vector<int64_t> a_batch(sa.begin(), sa.end() - 2), b_batch(sb.begin(), sb.end() - 2);
  const std::vector<int64_t> batch = broadcast_shape({a_batch, b_batch}, where);
  std::vector<int64_t> y_shape = batch;
  if (!a_vec) y_shape.push_back(m);
  if (!b_vec) y_shape.push_back(n);
  check_dy(dy, a.dtype(), y_shape, where);
  std::pair<Tensor, Tensor> r;
  if (want_da) r.first = Tensor(a.dtype(), a.shape());
  if (want_db) r.second = Tensor(b.dtype(), b.shape());
  if (dy.numel() == 0 || k == 0) return r;  // Y has no elements, or dA and dB none: zeros
  dispatch_float(a.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.values<T>().data();
    const T* pb = b.values<T>().data();
    const T* pdy = dy.values<T>().data();
    T* da = want_da ? r.first.mutable_values<T>().data() : nullptr;
    T* db = want_db ? r.second.mutable_values<T>().data() : nullptr;
    const int64_t batches = shape_numel(batch);
    if (shape_numel(b_batch) == 1 && shape_numel(a_batch) == batches) {
      GemmArgs<T> g;
      if (da) {  // dA[batches*M, K] = dY[batches*M, N] B^T
        g.m = batches * m, g.n = k, g.k = n;
        g.a = pdy, g.lda = n, g.b = pb, g.ldb = n, g.trans_b = true, g.c = da, g.ldc = k;
        gemm_parallel(pool, g);
      }
      if (db) {  // dB[K, N] = A^T[K, batches*M] dY[batches*M, N]
        g = GemmArgs<T>{};
        g.m = k, g.n = n, g.k = batches * m;
        g.a = pa, g.lda = k, g.trans_a = true, g.b = pdy, g.ldb = n, g.c = db, g.ldc = n;
        gemm_parallel(pool, g);
      }
      return 0;
    }
    const std::vector<int64_t> a_off = batch_offsets(a_batch, batch), b_off = batch_offsets(b_batch, batch);
    if (da) {
      accumulate<T>(pool, readers(a_off, shape_numel(a_batch)), m * n * k, [&](int64_t i, int64_t j) {
        GemmArgs<T> g;  // dA_j[M, K] += dY_i[M, N] B_i^T
        g.m = m, g.n = k, g.k = n;
        g.a = pdy + i * m * n, g.lda = n;
        g.b = pb + b_off[static_cast<size_t>(i)] * k * n, g.ldb = n, g.trans_b = true;
        g.c = da + j * m * k, g.ldc = k;
        return g;
      });
    }
    if (db) {
      accumulate<T>(pool, readers(b_off, shape_numel(b_batch)), m * n * k, [&](int64_t i, int64_t j) {
        GemmArgs<T> g;  // dB_j[K, N] += A_i^T dY_i[M, N]
        g.m = k, g.n = n, g.k = m;
        g.a = pa + a_off[static_cast<size_t>(i)] * m * k, g.lda = k, g.trans_a = true;
        g.b = pdy + i * m * n, g.ldb = n;
        g.c = db + j * k * n, g.ldc = n;
        return g;
      });
    }
    return 0;
  });
  return r;
}

}  // namespace scalec::kernels
