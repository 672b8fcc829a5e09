// LpNormalization (opsets 1-22) and MeanVarianceNormalization (opsets 9-22) on the CPU.
#include <cmath>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/normalization.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

ir::Tensor lp_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, int64_t axis, int64_t p,
                               const std::string& where) {
  if (p != 1 && p != 2) throw_bad_input("{} p = {} is not supported (only 1 and 2)", where, p);
  // The norm runs along `axis`: each output of the plan is one line, visited in order.
  const ReducePlan plan = make_reduce_plan(x.shape(), {axis}, true, where);
  ir::Tensor y(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    T* py = y.mutable_values<T>().data();
    pool.parallel_for(plan.out_count, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plan.reduce_count)),
                      [&](int64_t lo, int64_t hi) {
                        for (int64_t o = lo; o < hi; ++o) {
                          const int64_t base = plan.base_offset(o);
                          double acc = 0;
                          plan.visit(base, [&](int64_t off) {
                            const double v = static_cast<double>(px[off]);
                            acc += p == 1 ? std::fabs(v) : v * v;
                          });
                          const double norm = p == 1 ? acc : std::sqrt(acc);
                          // A zero vector stays zero (ONNX Runtime's choice) instead of 0/0 = NaN.
                          const double inv = norm == 0 ? 0.0 : 1.0 / norm;
                          plan.visit(base, [&](int64_t off) { py[off] = static_cast<T>(static_cast<double>(px[off]) * inv); });
                        }
                      });
  });
  return y;
}

ir::Tensor mvn_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const std::vector<int64_t>& axes,
                           const std::string& where) {
  const ReducePlan plan = make_reduce_plan(x.shape(), axes, true, where);
  ir::Tensor y(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    T* py = y.mutable_values<T>().data();
    const auto n = static_cast<double>(plan.reduce_count);
    pool.parallel_for(plan.out_count, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plan.reduce_count)),
                      [&](int64_t lo, int64_t hi) {
                        for (int64_t o = lo; o < hi; ++o) {
                          const int64_t base = plan.base_offset(o);
                          double sum = 0, sq = 0;
                          plan.visit(base, [&](int64_t off) { sum += static_cast<double>(px[off]); });
                          const double mean = sum / n;
                          plan.visit(base, [&](int64_t off) {
                            const double d = static_cast<double>(px[off]) - mean;
                            sq += d * d;
                          });
                          const double inv = 1.0 / (std::sqrt(sq / n) + kMvnEpsilon);
                          plan.visit(base, [&](int64_t off) { py[off] = static_cast<T>((static_cast<double>(px[off]) - mean) * inv); });
                        }
                      });
  });
  return y;
}

}  // namespace scalec::kernels
