#pragma once
// Reduction CPU kernels: Reduce* (sum, mean, max, min, prod, L1, L2, log-sum, log-sum-exp,
// sum-square), ArgMax/ArgMin, TopK and CumSum, and the ReducePlan that walks a tensor's reduced
// axes (also used by MeanVarianceNormalization).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// How a reduction walks a contiguous input: the kept and the reduced dims, with size-1 dims
/// dropped and adjacent dims of the same kind merged, so the usual cases become one or two loops.
struct ReducePlan {
  /// At most this many merged reduced dims (a rank-64 tensor has at most 32).
  static constexpr size_t kMaxMerged = 32;

  std::vector<int64_t> out_shape;  ///< output shape, keepdims applied
  int64_t out_count = 1;           ///< number of outputs
  int64_t reduce_count = 1;        ///< input elements folded into each output
  std::vector<int64_t> kept_dims, kept_strides;  ///< merged kept dims (outer first), input strides
  std::vector<int64_t> red_dims, red_strides;    ///< merged reduced dims (outer first), input strides

  /// Input offset of the first element that output `out_index` folds.
  int64_t base_offset(int64_t out_index) const {
    int64_t off = 0;
    for (size_t d = kept_dims.size(); d-- > 0;) {
      off += (out_index % kept_dims[d]) * kept_strides[d];
      out_index /= kept_dims[d];
    }
    return off;
  }

  /// Calls f(offset) for the reduced elements [lo, hi) of the output at `base`, in row-major order.
  template <typename F>
  void visit_range(int64_t base, int64_t lo, int64_t hi, F&& f) const {
    if (lo >= hi) return;
    const size_t r = red_dims.size();
    if (r == 0) {
      f(base);
      return;
    }
    int64_t idx[kMaxMerged];
    int64_t off = base;
    int64_t rem = lo;
    for (size_t d = r; d-- > 0;) {
      idx[d] = rem % red_dims[d];
      rem /= red_dims[d];
      off += idx[d] * red_strides[d];
    }
    const int64_t inner = red_dims[r - 1], istride = red_strides[r - 1];
    for (int64_t i = lo; i < hi;) {
      const int64_t n = std::min(inner - idx[r - 1], hi - i);
      for (int64_t k = 0; k < n; ++k) f(off + k * istride);
      i += n;
      off += n * istride;
      idx[r - 1] += n;
      for (size_t d = r - 1; d > 0 && idx[d] == red_dims[d]; --d) {
        off += red_strides[d - 1] - idx[d] * red_strides[d];
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  }

  /// Calls f(offset) for every reduced element of the output at `base`.
  template <typename F>
  void visit(int64_t base, F&& f) const {
    visit_range(base, 0, reduce_count, f);
  }
};

/// Axes wrapped into [0, rank) and sorted; throws Error(kBadInput) prefixed by `where` when an axis
/// is out of range or repeated.
std::vector<int64_t> reduce_normalize_axes(std::vector<int64_t> axes, int64_t rank, const std::string& where);

/// The plan reducing `shape` over `axes` (normalized); an empty `axes` reduces nothing.
ReducePlan make_reduce_plan(const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool keepdims,
                            const std::string& where);

/// The reductions of the ReduceXxx ops.
enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

/// ReduceXxx over `axes` (normalized; empty = reduce nothing, each element transformed alone).
/// Float inputs accumulate in double, integers in 64 bits, in an order fixed by the shape alone.
ir::Tensor reduce_forward_cpu(ReduceKind kind, ThreadPool& pool, const ir::Tensor& x, const std::vector<int64_t>& axes,
                              bool keepdims, const std::string& where);

/// The gradient of ReduceXxx over `axes` (normalized, as the forward): x the input, y the forward
/// output and dy its gradient (either keepdims shape). Float and double (reduce_backward.cpp).
ir::Tensor reduce_backward_cpu(ReduceKind kind, ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& y,
                               const ir::Tensor& dy, const std::vector<int64_t>& axes, const std::string& where);

/// ArgMax (is_max) or ArgMin along `axis` (normalized); int64 indices of the first (or last) extreme.
ir::Tensor arg_reduce_forward_cpu(bool is_max, ThreadPool& pool, const ir::Tensor& x, int64_t axis, bool keepdims,
                                  bool select_last_index, const std::string& where);

/// TopK along `axis` (normalized): values and int64 indices of the k largest (or smallest), sorted,
/// ties in index order.
std::pair<ir::Tensor, ir::Tensor> topk_forward_cpu(ThreadPool& pool, const ir::Tensor& x, int64_t k, int64_t axis,
                                                   bool largest, const std::string& where);

/// CumSum along `axis` (normalized), optionally exclusive and/or reversed.
ir::Tensor cumsum_forward_cpu(ThreadPool& pool, const ir::Tensor& x, int64_t axis, bool exclusive, bool reverse,
                              const std::string& where);

}  // namespace scalec::kernels
