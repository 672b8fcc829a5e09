// Softmax and LogSoftmax backward on the CPU, from the forward output y, over the same
// [outer, n, inner] view as the forward (inner = 1 for the 2-D coercion of opsets 1-12):
//   Softmax:    dx = y * (dy - sum_k dy_k y_k)
//   LogSoftmax: dx = dy - exp(y) * sum_k dy_k
// Sums accumulate in double, per lane, in k order.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

ir::Tensor softmax_backward_cpu(SoftmaxKind kind, ThreadPool& pool, const ir::Tensor& y, const ir::Tensor& dy, int64_t axis,
                                bool coerce_2d, const std::string& where) {
  if (kind == SoftmaxKind::kHardmax) throw_internal("{} Hardmax has no backward kernel (its gradient is 0)", where);
  const SoftmaxView v = softmax_view(y.shape(), axis, coerce_2d);
  const int64_t outer = v.outer, n = v.n, inner = v.inner;
  ir::Tensor dx(y.dtype(), y.shape());
  if (dx.numel() == 0) return dx;
  dispatch_float(y.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* py = y.values<T>().data();
    const T* pdy = dy.values<T>().data();
    T* pdx = dx.mutable_values<T>().data();
    const int64_t slice = n * inner;
    pool.parallel_for(outer, std::max<int64_t>(1, 16384 / slice), [&](int64_t lo, int64_t hi) {
      std::vector<double> sum(static_cast<size_t>(inner));
      for (int64_t o = lo; o < hi; ++o) {
        const T* ys = py + o * slice;
        const T* gs = pdy + o * slice;
        T* out = pdx + o * slice;
        std::fill(sum.begin(), sum.end(), 0.0);
        for (int64_t k = 0; k < n; ++k) {
          for (int64_t i = 0; i < inner; ++i) {
            const double g = static_cast<double>(gs[k * inner + i]);
            sum[static_cast<size_t>(i)] += kind == SoftmaxKind::kSoftmax ? g * static_cast<double>(ys[k * inner + i]) : g;
          }
        }
        for (int64_t k = 0; k < n; ++k) {
          for (int64_t i = 0; i < inner; ++i) {
            const int64_t e = k * inner + i;
            const double yv = static_cast<double>(ys[e]), g = static_cast<double>(gs[e]), s = sum[static_cast<size_t>(i)];
            out[e] = static_cast<T>(kind == SoftmaxKind::kSoftmax ? yv * (g - s) : g - std::exp(yv) * s);
          }
        }
      }
    });
  });
  return dx;
}

}  // namespace scalec::kernels
