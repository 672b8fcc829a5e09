// Backward kernels of the data-movement ops. A forward gather reads y[i] = x[table(i)]; its
// adjoint adds dy[i] into dx[table(i)] (dx[j] = sum over the i that read j of dy[i]).
#include "kernels/cpu/tensor_copy_backward.h"

#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

void gather_axes_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const AxisOffsets& axes, ir::Tensor& dx,
                              bool injective, const std::string& where) {
  if (dy.dtype() != dx.dtype()) {
    throw_internal("{} gradient of type {} for an input of type {}", where, ir::dtype_name(dy.dtype()), ir::dtype_name(dx.dtype()));
  }
  const std::vector<int64_t>& shape = dy.shape();
  if (dy.numel() == 0) return;
  dispatch_float(dy.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* src = dy.values<T>().data();
    T* dst = dx.mutable_values<T>().data();
    if (shape.empty()) {
      dst[0] += src[0];
      return;
    }
    const size_t rank = shape.size();
    const int64_t inner = shape.back();
    const int64_t rows = dy.numel() / inner;
    const std::vector<int64_t>& last = axes.back();
    // Rows of dy: an odometer over the outer axes tracks the target offset of each row.
    auto run = [&](int64_t lo, int64_t hi) {
      std::vector<int64_t> idx(rank - 1, 0);
      int64_t rem = lo, off = 0;
      for (size_t d = rank - 1; d-- > 0;) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
      }
      for (size_t d = 0; d + 1 < rank; ++d) off += axes[d][static_cast<size_t>(idx[d])];
      for (int64_t r = lo; r < hi; ++r) {
        const T* g = src + r * inner;
        for (int64_t j = 0; j < inner; ++j) dst[off + last[static_cast<size_t>(j)]] += g[j];
        for (size_t d = rank - 1; d-- > 0;) {
          const auto& table = axes[d];
          off -= table[static_cast<size_t>(idx[d])];
          if (++idx[d] < shape[d]) {
            off += table[static_cast<size_t>(idx[d])];
            break;
          }
          idx[d] = 0;
          off += table[0];
        }
      }
    };
    if (injective) pool.parallel_for(rows, std::max<int64_t>(1, kCopyGrain / inner), run);
    else run(0, rows);
  });
}

ir::Tensor gather_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const std::vector<int64_t>& x_shape, int64_t axis,
                               const std::vector<int64_t>& index, const std::string& where) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < x_shape.size(); ++d) {
    if (static_cast<int64_t>(d) < axis) outer *= x_shape[d];
    if (static_cast<int64_t>(d) > axis) inner *= x_shape[d];
  }
  const int64_t dim = x_shape[static_cast<size_t>(axis)];
  const auto count = static_cast<int64_t>(index.size());
  if (dy.numel() != outer * count * inner) {
    throw_internal("{} Gather gradient has {} elements, expected {}", where, dy.numel(), outer * count * inner);
  }
  ir::Tensor dx(dy.dtype(), x_shape);
  if (dx.numel() == 0 || dy.numel() == 0) return dx;
  dispatch_float(dy.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* g = dy.values<T>().data();
    T* out = dx.mutable_values<T>().data();
    pool.parallel_for(outer, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, count * inner)), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        for (int64_t j = 0; j < count; ++j) {
          T* row = out + (o * dim + index[static_cast<size_t>(j)]) * inner;
          const T* gr = g + (o * count + j) * inner;
          for (int64_t i = 0; i < inner; ++i) row[i] += gr[i];
        }
      }
    });
  });
  return dx;
}

}  // namespace scalec::kernels
