// MatMul: numpy.matmul on top of the GEMM core. Dimension letters: A [..., M, K], B [..., K, N],
// Y [batch..., M, N]; a 1-D A is [1, K] with M dropped from Y, a 1-D B is [K, 1] with N dropped.
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

template <typename T>
void matmul_batched(ThreadPool& pool, const T* pa, const T* pb, T* py, int64_t m, int64_t n, int64_t k,
                    const std::vector<int64_t>& a_off, const std::vector<int64_t>& b_off) {
  const auto batches = static_cast<int64_t>(a_off.size());
  auto one = [&](int64_t i) {
    GemmArgs<T> g;
    g.m = m, g.n = n, g.k = k;
    g.a = pa + a_off[static_cast<size_t>(i)] * m * k, g.lda = k;
    g.b = pb + b_off[static_cast<size_t>(i)] * k * n, g.ldb = n;
    g.c = py + i * m * n, g.ldc = n;
    return g;
  };
  // Many small products: one thread per block of batches. Few large ones: split each product.
  if (batches >= pool.threads() || m * n * k < kGemmParallelMacs) {
    pool.parallel_for(batches, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) gemm(one(i));
    });
  } else {
    for (int64_t i = 0; i < batches; ++i) gemm_parallel(pool, one(i));
  }
}

}  // namespace

Tensor matmul_forward_cpu(ThreadPool& pool, const Tensor& a, const Tensor& b, const std::string& where) {
  if (a.rank() == 0 || b.rank() == 0) throw_bad_input("{} MatMul inputs must have rank >= 1", where);
  if (a.dtype() != b.dtype()) {
    throw_bad_input("{} input types differ: {} and {}", where, ir::dtype_name(a.dtype()), ir::dtype_name(b.dtype()));
  }
  std::vector<int64_t> sa = a.shape(), sb = b.shape();
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  if (sb[sb.size() - 2] != k) {
    throw_bad_input("{} shapes {} and {} cannot be multiplied (K = {} vs {})", where, ir::shape_to_string(a.shape()),
                    ir::shape_to_string(b.shape()), k, sb[sb.size() - 2]);
  }
  const std::vector<int64_t> a_batch(sa.begin(), sa.end() - 2), b_batch(sb.begin(), sb.end() - 2);
  const std::vector<int64_t> batch = broadcast_shape({a_batch, b_batch}, where);
  std::vector<int64_t> out_shape = batch;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);

  return dispatch_gemm(a.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    Tensor y(a.dtype(), out_shape);
    if (y.numel() == 0) return y;
    const T* pa = a.values<T>().data();
    const T* pb = b.values<T>().data();
    T* py = y.mutable_values<T>().data();
    const int64_t batches = shape_numel(batch);
    if (shape_numel(b_batch) == 1 && shape_numel(a_batch) == batches) {
      // B is one matrix shared by every batch: fold A's batch into M for one large product.
      GemmArgs<T> g;
      g.m = batches * m, g.n = n, g.k = k;
      g.a = pa, g.lda = k, g.b = pb, g.ldb = n, g.c = py, g.ldc = n;
      gemm_parallel(pool, g);
      return y;
    }
    // Per-batch matrix offsets of A and B, from their broadcast strides over the batch dims.
    const std::vector<int64_t> stride_a = broadcast_strides(a_batch, batch), stride_b = broadcast_strides(b_batch, batch);
    std::vector<int64_t> a_off(static_cast<size_t>(batches)), b_off(static_cast<size_t>(batches));
    std::vector<int64_t> idx(batch.size(), 0);
    for (int64_t i = 0; i < batches; ++i) {
      int64_t oa = 0, ob = 0;
      for (size_t d = 0; d < batch.size(); ++d) {
        oa += idx[d] * stride_a[d];
        ob += idx[d] * stride_b[d];
      }
      a_off[static_cast<size_t>(i)] = oa;
      b_off[static_cast<size_t>(i)] = ob;
      for (size_t d = batch.size(); d-- > 0;) {
        if (++idx[d] < batch[d]) break;
        idx[d] = 0;
      }
    }
    matmul_batched<T>(pool, pa, pb, py, m, n, k, a_off, b_off);
    return y;
  });
}

Tensor matmul_bias_forward_cpu(ThreadPool& pool, const Tensor& a, const Tensor& b, const Tensor& bias,
                               const std::string& where) {
  Tensor y = matmul_forward_cpu(pool, a, b, where);
  const bool row_bias = b.rank() == 2 && bias.rank() == 1 && bias.numel() == b.shape()[1] && bias.dtype() == y.dtype() &&
                        (y.dtype() == ir::DType::kFloat || y.dtype() == ir::DType::kDouble);
  if (!row_bias) {
    throw_bad_input("{} a fused bias needs a float matrix B [K, N] and a bias [N] of its type; got {} B {} and {} bias {}",
                    where, ir::dtype_name(b.dtype()), ir::shape_to_string(b.shape()), ir::dtype_name(bias.dtype()),
                    ir::shape_to_string(bias.shape()));
  }
  const int64_t n = b.shape()[1], rows = n == 0 ? 0 : y.numel() / n;
  auto add_rows = [&](auto tag) {
    using T = decltype(tag);
    T* py = y.mutable_values<T>().data();
    const T* pb = bias.values<T>().data();
    pool.parallel_for(rows, std::max<int64_t>(1, int64_t{16384} / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        T* row = py + r * n;
        for (int64_t j = 0; j < n; ++j) row[j] = row[j] + pb[j];
      }
    });
  };
  if (y.dtype() == ir::DType::kFloat) add_rows(float{});
  else add_rows(double{});
  return y;
}

}  // namespace scalec::kernels
