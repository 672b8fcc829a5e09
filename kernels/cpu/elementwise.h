#pragma once
// Elementwise CPU kernels with numpy broadcasting, shared by the op families.
#include <cmath>
#include <type_traits>

#include "ir/tensor.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// Elements per parallel chunk for cheap elementwise work (~64 KB of floats per task).
inline constexpr int64_t kElementwiseGrain = 16384;

/// out[i] = op(a[i], b[i]) with broadcasting; Out is the output element type.
template <typename Out, typename A, typename B, typename Op>
ir::Tensor binary_map(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& b, const std::string& where, Op op) {
  std::vector<int64_t> shape = broadcast_shape({a.shape(), b.shape()}, where);
  ir::Tensor out(dtype_of<Out>(), shape);
  const A* pa = a.values<A>().data();
  const B* pb = b.values<B>().data();
  Out* po = out.mutable_values<Out>().data();
  int64_t n = out.numel();
  if (a.shape() == shape && b.shape() == shape) {
    pool.parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = static_cast<Out>(op(pa[i], pb[i]));
    });
    return out;
  }
  if (b.numel() == 1 && a.shape() == shape) {
    const B s = pb[0];
    pool.parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = static_cast<Out>(op(pa[i], s));
    });
    return out;
  }
  const std::vector<int64_t> strides[2] = {broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape)};
  pool.parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for_each_broadcast<2>(shape, strides, lo, hi,
                          [&](int64_t i, const int64_t* off) { po[i] = static_cast<Out>(op(pa[off[0]], pb[off[1]])); });
  });
  return out;
}

/// out[i] = op(x[i]); Out is the output element type.
template <typename Out, typename In, typename Op>
ir::Tensor unary_map(ThreadPool& pool, const ir::Tensor& x, Op op) {
  ir::Tensor out(dtype_of<Out>(), x.shape());
  const In* px = x.values<In>().data();
  Out* po = out.mutable_values<Out>().data();
  pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = static_cast<Out>(op(px[i]));
  });
  return out;
}

}  // namespace scalec::kernels
