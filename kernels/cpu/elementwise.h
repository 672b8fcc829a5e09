#pragma once
// Elementwise CPU kernels with numpy broadcasting, shared by the op families.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "ir/tensor.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// Elements per parallel chunk for cheap elementwise work (~64 KB of floats per task).
inline constexpr int64_t kElementwiseGrain = 16384;

/// Merges adjacent axes that both operands walk alike (each contiguous across the pair, or each
/// broadcast across it), so the innermost loop is as long as it can be: [N, C, H, W] + [C, 1, 1]
/// becomes [N, C, H*W] with strides [0, 1, 0] for the second operand.
inline void collapse_broadcast_axes(std::vector<int64_t>& shape, std::vector<int64_t> (&strides)[2]) {
  auto erase_axis = [&](size_t d) {
    shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(d));
    for (auto& st : strides) st.erase(st.begin() + static_cast<std::ptrdiff_t>(d));
  };
  for (size_t d = shape.size(); d-- > 1;) {
    if (shape[d] == 1 || shape[d - 1] == 1) {  // an axis of extent 1 is no axis at all
      erase_axis(shape[d] == 1 ? d : d - 1);
      continue;
    }
    bool merge = true;
    for (const auto& st : strides) {
      merge = merge && ((st[d - 1] == 0 && st[d] == 0) || (st[d] != 0 && st[d - 1] == st[d] * shape[d]));
    }
    if (!merge) continue;
    shape[d - 1] *= shape[d];
    for (auto& st : strides) st[d - 1] = st[d];
    erase_axis(d);
  }
}

/// out[i] = op(a[i], b[i]) with broadcasting; Out is the output element type. Broadcast shapes
/// run row by row over the collapsed innermost axis, where each operand is contiguous or one value.
template <typename Out, typename A, typename B, typename Op>
ir::Tensor binary_map(ThreadPool& pool, const ir::Tensor& a, const ir::Tensor& b, const std::string& where, Op op) {
  std::vector<int64_t> shape = broadcast_shape({a.shape(), b.shape()}, where);
  ir::Tensor out = ir::Tensor::uninitialized(dtype_of<Out>(), shape);  // every element is written
  const A* pa = a.values<A>().data();
  const B* pb = b.values<B>().data();
  Out* po = out.mutable_values<Out>().data();
  int64_t n = out.numel();
  if (n == 0) return out;
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
  std::vector<int64_t> strides[2] = {broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape)};
  collapse_broadcast_axes(shape, strides);
  const int64_t inner = shape.back(), sa = strides[0].back(), sb = strides[1].back();
  shape.pop_back();
  for (auto& st : strides) st.pop_back();
  pool.parallel_for(n / inner, std::max<int64_t>(1, kElementwiseGrain / inner), [&](int64_t lo, int64_t hi) {
    for_each_broadcast<2>(shape, strides, lo, hi, [&](int64_t row, const int64_t* off) {
      Out* o = po + row * inner;
      const A* x = pa + off[0];
      const B* y = pb + off[1];
      if (sa != 0 && sb != 0) {
        for (int64_t i = 0; i < inner; ++i) o[i] = static_cast<Out>(op(x[i], y[i]));
      } else if (sa != 0) {
        const B v = y[0];
        for (int64_t i = 0; i < inner; ++i) o[i] = static_cast<Out>(op(x[i], v));
      } else if (sb != 0) {
        const A u = x[0];
        for (int64_t i = 0; i < inner; ++i) o[i] = static_cast<Out>(op(u, y[i]));
      } else {
        const Out v = static_cast<Out>(op(x[0], y[0]));
        for (int64_t i = 0; i < inner; ++i) o[i] = v;
      }
    });
  });
  return out;
}

/// out[i] = op(x[i]); Out is the output element type.
template <typename Out, typename In, typename Op>
ir::Tensor unary_map(ThreadPool& pool, const ir::Tensor& x, Op op) {
  ir::Tensor out = ir::Tensor::uninitialized(dtype_of<Out>(), x.shape());
  const In* px = x.values<In>().data();
  Out* po = out.mutable_values<Out>().data();
  pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = static_cast<Out>(op(px[i]));
  });
  return out;
}

}  // namespace scalec::kernels
