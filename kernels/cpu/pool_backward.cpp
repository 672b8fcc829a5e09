// Pooling backward. Every output position scatters into the input positions of its own plane
// (N * C planes), so planes run in parallel and each plane adds in a fixed order.
//   MaxPool:           dx[argmax(window o)] += dy[o]             (argmax from the forward's Indices)
//   AveragePool:       dx[t] += dy[o] / n(o) for each tap t of window o inside the input,
//                      n(o) = those taps, or the whole kernel with count_include_pad
//   GlobalAveragePool: dx[c, :] = dy[c] / spatial size
//   GlobalMaxPool:     dx[c, argmax] = dy[c]
#include "kernels/cpu/pool_backward.h"

#include <cmath>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/pool_taps.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Work (taps) per parallel chunk, as the forward.
constexpr int64_t kGrainTaps = 32768;

void check_dy(const Tensor& dy, const std::vector<int64_t>& x_shape, const std::string& where) {
  if (dy.rank() != static_cast<int64_t>(x_shape.size()) || dy.rank() < 2 || dy.shape()[0] != x_shape[0] ||
      dy.shape()[1] != x_shape[1]) {
    throw_internal("{} dY {} does not pool X {}", where, ir::shape_to_string(dy.shape()), ir::shape_to_string(x_shape));
  }
}

int64_t grain(int64_t per_plane) { return std::max<int64_t>(1, kGrainTaps / std::max<int64_t>(1, per_plane)); }

}  // namespace

Tensor max_pool_backward_cpu(ThreadPool& pool, const Tensor& dy, const Tensor& indices, const std::vector<int64_t>& x_shape,
                             const std::string& where) {
  check_dy(dy, x_shape, where);
  if (indices.dtype() != ir::DType::kInt64 || indices.shape() != dy.shape()) {
    throw_internal("{} Indices {} do not match dY {}", where, ir::shape_to_string(indices.shape()),
                   ir::shape_to_string(dy.shape()));
  }
  Tensor dx(dy.dtype(), x_shape);
  const int64_t planes = x_shape[0] * x_shape[1];
  if (dy.numel() == 0 || planes == 0) return dx;
  const int64_t plane_in = dx.numel() / planes, plane_out = dy.numel() / planes;
  dispatch_float(dy.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = dy.values<T>().data();
    const int64_t* pi = indices.values<int64_t>().data();
    T* pdx = dx.mutable_values<T>().data();
    pool.parallel_for(planes, grain(plane_out), [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        for (int64_t i = p * plane_out; i < (p + 1) * plane_out; ++i) {
          const int64_t at = pi[i];
          if (at < 0) continue;
          if (at < p * plane_in || at >= (p + 1) * plane_in) {
            throw_internal("{} index {} of output {} lies outside its plane", where, at, i);
          }
          pdx[at] += pdy[i];
        }
      }
    });
    return 0;
  });
  return dx;
}

Tensor average_pool_backward_cpu(ThreadPool& pool, const Tensor& dy, const PoolGeometry& g, bool count_include_pad,
                                 const std::vector<int64_t>& x_shape, const std::string& where) {
  check_dy(dy, x_shape, where);
  Tensor dx(dy.dtype(), x_shape);
  const size_t rank = g.in.size();
  const int64_t planes = x_shape[0] * x_shape[1];
  const int64_t plane_in = shape_numel(g.in), plane_out = shape_numel(g.out), kernel_size = shape_numel(g.kernel);
  if (dy.numel() == 0 || dx.numel() == 0) return dx;
  std::vector<AxisTaps> taps;
  for (size_t a = 0; a < rank; ++a) taps.push_back(axis_taps(g, a));
  const std::vector<int64_t> in_strides = contiguous_strides(g.in);
  dispatch_float(dy.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = dy.values<T>().data();
    T* pdx = dx.mutable_values<T>().data();
    pool.parallel_for(planes, grain(plane_out * kernel_size), [&](int64_t lo, int64_t hi) {
      std::vector<int64_t> o(rank), k(rank);
      for (int64_t p = lo; p < hi; ++p) {
        T* plane = pdx + p * plane_in;
        std::fill(o.begin(), o.end(), 0);
        for (int64_t i = 0; i < plane_out; ++i) {
          int64_t n = 1;  // taps inside the input, the forward's divisor without count_include_pad
          for (size_t a = 0; a < rank; ++a) n *= taps[a].k_hi[o[a]] - taps[a].k_lo[o[a]];
          if (count_include_pad) n = kernel_size;
          if (n > 0) {
            const T share = pdy[p * plane_out + i] / static_cast<T>(n);
            for_each_tap_offset(g, taps, in_strides, o.data(), k.data(), [&](int64_t off) { plane[off] += share; });
          }
          for (size_t a = rank; a-- > 0;) {  // next output position
            if (++o[a] < g.out[a]) break;
            o[a] = 0;
          }
        }
      }
    });
    return 0;
  });
  return dx;
}

Tensor global_pool_backward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& dy, PoolKind kind,
                                const std::string& where) {
  check_dy(dy, x.shape(), where);
  if (dy.dtype() != x.dtype()) throw_internal("{} dY is {}, X {}", where, ir::dtype_name(dy.dtype()), ir::dtype_name(x.dtype()));
  if (kind == PoolKind::kLp) throw_internal("{} GlobalLpPool has no backward kernel", where);
  Tensor dx(x.dtype(), x.shape());
  const int64_t planes = x.shape()[0] * x.shape()[1];
  if (x.numel() == 0) return dx;
  const int64_t n = x.numel() / planes;
  dispatch_float(x.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.values<T>().data();
    const T* pdy = dy.values<T>().data();
    T* pdx = dx.mutable_values<T>().data();
    pool.parallel_for(planes, grain(n), [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        const T* src = px + p * n;
        T* dst = pdx + p * n;
        if (kind == PoolKind::kAverage) {
          const T share = pdy[p] / static_cast<T>(n);
          std::fill(dst, dst + n, share);
          continue;
        }
        int64_t best = 0;  // the forward's choice: the first maximum, or the first NaN
        for (int64_t j = 1; j < n && !std::isnan(src[best]); ++j) {
          if (src[j] > src[best] || std::isnan(src[j])) best = j;
        }
        dst[best] = pdy[p];
      }
    });
    return 0;
  });
  return dx;
}

}  // namespace scalec::kernels
