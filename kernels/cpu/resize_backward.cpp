// Resize backward on the CPU (gradient to X only): the adjoint of the forward's separable passes.
// Each resized axis maps output o to the taps (index[k], weight[k]), k in [first[o], first[o+1]);
// its adjoint adds weight[k] * dy[o] into dx[index[k]]. Nearest is the one-tap case (weight 1),
// so nearest, linear, cubic and antialiased plans share the pass. Samples outside the input
// (tf_crop_and_resize) took the extrapolation value and pass no gradient. Accumulates in double.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/resize.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

// Inner elements per parallel task of one adjoint pass.
constexpr int64_t kInnerBlock = 4096;

// The adjoint of one interpolation pass along `axis`: src has plan.out there, dst plan.in.
void adjoint_axis(ThreadPool& pool, const std::vector<double>& src, std::vector<double>& dst, const std::vector<int64_t>& shape,
                  size_t axis, const ResizeAxisPlan& plan) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t n_in = plan.in, n_out = plan.out;
  const int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  pool.parallel_for(outer * blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t b = t / blocks, i0 = (t % blocks) * kInnerBlock, i1 = std::min(inner, i0 + kInnerBlock);
      const double* in = src.data() + b * n_out * inner;
      double* out = dst.data() + b * n_in * inner;
      for (int64_t o = 0; o < n_out; ++o) {
        const double* g = in + o * inner;
        for (int64_t k = plan.first[o]; k < plan.first[o + 1]; ++k) {
          double* row = out + plan.index[k] * inner;
          const double w = plan.weight[k];
          for (int64_t i = i0; i < i1; ++i) row[i] += w * g[i];
        }
      }
    }
  });
}

}  // namespace

ir::Tensor resize_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const std::vector<int64_t>& x_shape,
                               const ResizeRequest& req, const ResizeOptions& opt, const std::string& where) {
  if (req.out != dy.shape() || req.out.size() != x_shape.size()) {
    throw_internal("{} resize gradient of shape {} for an output of shape {}", where, ir::shape_to_string(dy.shape()),
                   ir::shape_to_string(req.out));
  }
  const std::vector<ResizeAxisPlan> plans = resize_plans(x_shape, req, opt);
  ir::Tensor dx(dy.dtype(), x_shape);
  if (dx.numel() == 0 || dy.numel() == 0) return dx;
  std::vector<double> cur(static_cast<size_t>(dy.numel())), next;
  for (int64_t i = 0; i < dy.numel(); ++i) cur[static_cast<size_t>(i)] = dy.element_as_double(i);
  std::vector<int64_t> shape = req.out;
  resize_fill_outside(cur.data(), shape, plans, 0.0);
  // The adjoint passes commute; those that shrink the gradient most go first.
  std::vector<size_t> order;
  for (size_t d = 0; d < plans.size(); ++d) {
    if (!plans[d].identity()) order.push_back(d);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return plans[a].in * plans[b].out < plans[b].in * plans[a].out; });
  for (size_t d : order) {
    std::vector<int64_t> next_shape = shape;
    next_shape[d] = plans[d].in;
    next.assign(static_cast<size_t>(shape_numel(next_shape)), 0.0);
    adjoint_axis(pool, cur, next, shape, d, plans[d]);
    cur.swap(next);
    shape = next_shape;
  }
  dispatch_float(dx.dtype(), where, [&](auto t) {
    using T = decltype(t);
    T* out = dx.mutable_values<T>().data();
    for (size_t i = 0; i < cur.size(); ++i) out[i] = static_cast<T>(cur[i]);
  });
  return dx;
}

}  // namespace scalec::kernels
