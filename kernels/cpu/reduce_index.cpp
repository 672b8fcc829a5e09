// ArgMax, ArgMin, TopK and CumSum on the CPU: the ops that work along one axis. The tensor is
// viewed as [outer, n, inner] around the axis; each (outer, inner) line is handled alone.
#include <cmath>
#include <numeric>
#include <type_traits>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisView axis_view(const std::vector<int64_t>& shape, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis) v.outer *= shape[static_cast<size_t>(d)];
    else if (d == axis) v.n = shape[static_cast<size_t>(d)];
    else v.inner *= shape[static_cast<size_t>(d)];
  }
  return v;
}

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// True when a should come before b in TopK's output: larger (or smaller) first, NaN counting as the
// largest value (numpy's order), equal values in index order. A strict weak order even with NaN.
template <typename T>
bool topk_before(T a, int64_t ia, T b, int64_t ib, bool largest) {
  const bool na = is_nan(a), nb = is_nan(b);
  if (na != nb) return largest ? na : nb;
  if (!na && a != b) return largest ? a > b : a < b;
  return ia < ib;
}

}  // namespace

ir::Tensor arg_reduce_forward_cpu(bool is_max, ThreadPool& pool, const ir::Tensor& x, int64_t axis, bool keepdims,
                                  bool select_last_index, const std::string& where) {
  const AxisView v = axis_view(x.shape(), axis);
  if (v.n == 0) throw_bad_input("{} cannot take the arg-extreme of an empty axis {}", where, axis);
  std::vector<int64_t> out_shape = x.shape();
  if (keepdims) out_shape[static_cast<size_t>(axis)] = 1;
  else out_shape.erase(out_shape.begin() + axis);
  ir::Tensor out(ir::DType::kInt64, out_shape);
  int64_t* py = out.mutable_values<int64_t>().data();
  dispatch_numeric(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    const int64_t lines = v.outer * v.inner;
    pool.parallel_for(lines, std::max<int64_t>(1, 16384 / v.n), [&](int64_t lo, int64_t hi) {
      for (int64_t l = lo; l < hi; ++l) {
        const T* p = px + (l / v.inner) * v.n * v.inner + l % v.inner;
        T best = p[0];
        int64_t arg = 0;
        for (int64_t k = 1; k < v.n; ++k) {
          const T e = p[k * v.inner];
          bool take;
          if (is_nan(best)) take = select_last_index && is_nan(e);  // NaN wins, as in numpy
          else if (is_nan(e)) take = true;
          else take = select_last_index ? (is_max ? !(e < best) : !(best < e)) : (is_max ? best < e : e < best);
          if (take) {
            best = e;
            arg = k;
          }
        }
        py[l] = arg;
      }
    });
  });
  return out;
}

std::pair<ir::Tensor, ir::Tensor> topk_forward_cpu(ThreadPool& pool, const ir::Tensor& x, int64_t k, int64_t axis,
                                                   bool largest, const std::string& where) {
  const AxisView v = axis_view(x.shape(), axis);
  if (k < 0 || k > v.n) throw_bad_input("{} k = {} is outside [0, {}] (the size of axis {})", where, k, v.n, axis);
  std::vector<int64_t> out_shape = x.shape();
  out_shape[static_cast<size_t>(axis)] = k;
  ir::Tensor values(x.dtype(), out_shape);
  ir::Tensor indices(ir::DType::kInt64, out_shape);
  int64_t* pi = indices.mutable_values<int64_t>().data();
  dispatch_numeric(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    T* pv = values.mutable_values<T>().data();
    const int64_t lines = v.outer * v.inner;
    if (k == 0) return;
    pool.parallel_for(lines, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, v.n)), [&](int64_t lo, int64_t hi) {
      std::vector<int64_t> order(static_cast<size_t>(v.n));
      for (int64_t l = lo; l < hi; ++l) {
        const int64_t o = l / v.inner, i = l % v.inner;
        const T* p = px + o * v.n * v.inner + i;
        std::iota(order.begin(), order.end(), int64_t{0});
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
          return topk_before(p[a * v.inner], a, p[b * v.inner], b, largest);
        });
        const int64_t base = o * k * v.inner + i;
        for (int64_t j = 0; j < k; ++j) {
          pv[base + j * v.inner] = p[order[static_cast<size_t>(j)] * v.inner];
          pi[base + j * v.inner] = order[static_cast<size_t>(j)];
        }
      }
    });
  });
  return {values, indices};
}

ir::Tensor cumsum_forward_cpu(ThreadPool& pool, const ir::Tensor& x, int64_t axis, bool exclusive, bool reverse,
                              const std::string& where) {
  const AxisView v = axis_view(x.shape(), axis);
  ir::Tensor out(x.dtype(), x.shape());
  dispatch_numeric(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      throw_bad_input("{} does not support element type bool", where);
    } else {
      const T* px = x.values<T>().data();
      T* py = out.mutable_values<T>().data();
      // Running sums in the element type, as numpy.cumsum and ONNX Runtime keep them.
      pool.parallel_for(v.outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, v.n * v.inner)), [&](int64_t lo, int64_t hi) {
        std::vector<T> acc(static_cast<size_t>(v.inner));
        for (int64_t o = lo; o < hi; ++o) {
          std::fill(acc.begin(), acc.end(), T(0));
          for (int64_t s = 0; s < v.n; ++s) {
            const int64_t kk = reverse ? v.n - 1 - s : s;
            const T* xr = px + (o * v.n + kk) * v.inner;
            T* yr = py + (o * v.n + kk) * v.inner;
            for (int64_t i = 0; i < v.inner; ++i) {
              if (exclusive) {
                yr[i] = acc[static_cast<size_t>(i)];
                acc[static_cast<size_t>(i)] = static_cast<T>(acc[static_cast<size_t>(i)] + xr[i]);
              } else {
                acc[static_cast<size_t>(i)] = static_cast<T>(acc[static_cast<size_t>(i)] + xr[i]);
                yr[i] = acc[static_cast<size_t>(i)];
              }
            }
          }
        }
      });
    }
  });
  return out;
}

}  // namespace scalec::kernels
