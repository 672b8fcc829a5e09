// ReduceXxx backward on the CPU: each input element gets the gradient of the output it folds into,
// times the derivative of the reduction there (y and dy are read by output index, so keepdims
// does not matter). With n elements per output:
//   Sum: dy            Mean: dy / n            SumSquare: 2 x dy        L1: sign(x) dy
//   L2: x / y dy (0 where y = 0)               LogSum: dy / exp(y)      LogSumExp: exp(x - y) dy
//   Prod: dy * (product of the other elements), exact also where x has zeros
//   Max/Min: dy split evenly among the elements equal to y (ties share it, as torch.amax and the
//            elementwise Max/Min rules do; the sum of the shares is dy)
#include <cmath>

#include "ir/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

constexpr int64_t kGrainElements = 32768;

// Elementwise kinds: dx[e] = f(x[e], y[o], dy[o]) for every element e that output o folds. The
// flat range [0, out_count * n) is split into chunks, so one big reduction still uses every thread.
template <typename T, typename F>
void pointwise(ThreadPool& pool, const ReducePlan& p, const T* x, const T* y, const T* dy, T* dx, F f) {
  const int64_t n = p.reduce_count;
  pool.parallel_for(p.out_count * n, kGrainElements, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo / n; o * n < hi; ++o) {
      const double yo = static_cast<double>(y[o]), go = static_cast<double>(dy[o]);
      p.visit_range(p.base_offset(o), std::max(lo - o * n, int64_t{0}), std::min(hi - o * n, n),
                    [&](int64_t e) { dx[e] = static_cast<T>(f(static_cast<double>(x[e]), yo, go)); });
    }
  });
}

// Per-output kinds (Max/Min, Prod) look at all of an output's elements first.
template <typename T, typename F>
void per_output(ThreadPool& pool, const ReducePlan& p, F f) {
  pool.parallel_for(p.out_count, std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, p.reduce_count)),
                    [&](int64_t lo, int64_t hi) {
                      for (int64_t o = lo; o < hi; ++o) f(o, p.base_offset(o));
                    });
}

template <typename T>
void reduce_backward_typed(ReduceKind kind, ThreadPool& pool, const ReducePlan& p, const T* x, const T* y, const T* dy,
                           T* dx) {
  const double inv_n = p.reduce_count > 0 ? 1.0 / static_cast<double>(p.reduce_count) : 0.0;
  switch (kind) {
    case ReduceKind::kSum:
      return pointwise(pool, p, x, y, dy, dx, [](double, double, double g) { return g; });
    case ReduceKind::kMean:
      return pointwise(pool, p, x, y, dy, dx, [inv_n](double, double, double g) { return g * inv_n; });
    case ReduceKind::kSumSquare:
      return pointwise(pool, p, x, y, dy, dx, [](double v, double, double g) { return 2 * v * g; });
    case ReduceKind::kL1:
      return pointwise(pool, p, x, y, dy, dx, [](double v, double, double g) { return ((v > 0) - (v < 0)) * g; });
    case ReduceKind::kL2:
      return pointwise(pool, p, x, y, dy, dx, [](double v, double yo, double g) { return yo == 0 ? 0.0 : v / yo * g; });
    case ReduceKind::kLogSum:
      return pointwise(pool, p, x, y, dy, dx, [](double, double yo, double g) { return g / std::exp(yo); });
    case ReduceKind::kLogSumExp:
      return pointwise(pool, p, x, y, dy, dx, [](double v, double yo, double g) { return std::exp(v - yo) * g; });
    case ReduceKind::kMax:
    case ReduceKind::kMin:
      return per_output<T>(pool, p, [&](int64_t o, int64_t base) {
        int64_t ties = 0;
        p.visit(base, [&](int64_t e) { ties += x[e] == y[o]; });
        const double share = ties > 0 ? static_cast<double>(dy[o]) / static_cast<double>(ties) : 0.0;
        p.visit(base, [&](int64_t e) { dx[e] = x[e] == y[o] ? static_cast<T>(share) : T(0); });
      });
    case ReduceKind::kProd:
      return per_output<T>(pool, p, [&](int64_t o, int64_t base) {
        // The product of the non-zero elements and the number of zeros decide every share.
        double nonzero = 1;
        int64_t zeros = 0;
        p.visit(base, [&](int64_t e) {
          if (x[e] == T(0)) ++zeros;
          else nonzero *= static_cast<double>(x[e]);
        });
        const double g = static_cast<double>(dy[o]);
        p.visit(base, [&](int64_t e) {
          double others = 0;
          if (zeros == 0) others = nonzero / static_cast<double>(x[e]);
          else if (zeros == 1 && x[e] == T(0)) others = nonzero;
          dx[e] = static_cast<T>(g * others);
        });
      });
  }
}

}  // namespace

ir::Tensor reduce_backward_cpu(ReduceKind kind, ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& y,
                               const ir::Tensor& dy, const std::vector<int64_t>& axes, const std::string& where) {
  const ReducePlan p = make_reduce_plan(x.shape(), axes, true, where);
  if (y.numel() != p.out_count || dy.numel() != p.out_count || dy.dtype() != x.dtype() || y.dtype() != x.dtype()) {
    throw_internal("{} reduction backward: y {} and dy {} do not match {} outputs of {}", where,
                   ir::shape_to_string(y.shape()), ir::shape_to_string(dy.shape()), p.out_count, ir::dtype_name(x.dtype()));
  }
  ir::Tensor dx(x.dtype(), x.shape());
  if (x.numel() == 0) return dx;
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    reduce_backward_typed<T>(kind, pool, p, x.values<T>().data(), y.values<T>().data(), dy.values<T>().data(),
                             dx.mutable_values<T>().data());
  });
  return dx;
}

}  // namespace scalec::kernels
