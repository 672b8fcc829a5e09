// Softmax, LogSoftmax and Hardmax on the CPU. The input is viewed as [outer, n, inner] (inner = 1
// for the 2-D coercion of opsets 1-12); each outer slice is processed with all its inner lanes
// at once, so the loops over inner read contiguous memory.
#include "kernels/cpu/softmax.h"

#include <cmath>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

template <typename T>
void softmax_slice(SoftmaxKind kind, const T* x, T* y, int64_t n, int64_t inner, std::vector<double>& mx,
                   std::vector<double>& sum, std::vector<int64_t>& arg) {
  const auto lanes = static_cast<size_t>(inner);
  if (kind == SoftmaxKind::kHardmax) {
    arg.assign(lanes, 0);
    for (int64_t k = 1; k < n; ++k) {
      for (size_t i = 0; i < lanes; ++i) {
        if (x[k * inner + static_cast<int64_t>(i)] > x[arg[i] * inner + static_cast<int64_t>(i)]) arg[i] = k;
      }
    }
    for (int64_t k = 0; k < n; ++k) {
      for (size_t i = 0; i < lanes; ++i) y[k * inner + static_cast<int64_t>(i)] = arg[i] == k ? T(1) : T(0);
    }
    return;
  }
  mx.assign(lanes, -INFINITY);
  sum.assign(lanes, 0.0);
  for (int64_t k = 0; k < n; ++k) {
    const T* row = x + k * inner;
    for (size_t i = 0; i < lanes; ++i) {
      const double v = static_cast<double>(row[i]);
      if (v > mx[i] || std::isnan(v)) mx[i] = std::isnan(mx[i]) ? mx[i] : v;
    }
  }
  for (int64_t k = 0; k < n; ++k) {
    const T* row = x + k * inner;
    T* out = y + k * inner;
    for (size_t i = 0; i < lanes; ++i) {
      const double e = std::exp(static_cast<double>(row[i]) - mx[i]);
      sum[i] += e;
      if (kind == SoftmaxKind::kSoftmax) out[i] = static_cast<T>(e);
    }
  }
  for (size_t i = 0; i < lanes; ++i) sum[i] = kind == SoftmaxKind::kSoftmax ? 1.0 / sum[i] : mx[i] + std::log(sum[i]);
  for (int64_t k = 0; k < n; ++k) {
    const T* row = x + k * inner;
    T* out = y + k * inner;
    for (size_t i = 0; i < lanes; ++i) {
      if (kind == SoftmaxKind::kSoftmax) out[i] = static_cast<T>(static_cast<double>(out[i]) * sum[i]);
      else out[i] = static_cast<T>(static_cast<double>(row[i]) - sum[i]);
    }
  }
}

}  // namespace

SoftmaxView softmax_view(const std::vector<int64_t>& shape, int64_t axis, bool coerce_2d) {
  SoftmaxView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const int64_t s = shape[static_cast<size_t>(d)];
    if (d < axis) v.outer *= s;
    else if (d == axis || coerce_2d) v.n *= s;
    else v.inner *= s;
  }
  return v;
}

ir::Tensor softmax_forward_cpu(SoftmaxKind kind, ThreadPool& pool, const ir::Tensor& x, int64_t axis, bool coerce_2d,
                               const std::string& where) {
  const SoftmaxView v = softmax_view(x.shape(), axis, coerce_2d);
  const int64_t outer = v.outer, n = v.n, inner = v.inner;
  ir::Tensor out(x.dtype(), x.shape());
  if (out.numel() == 0) return out;
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    T* py = out.mutable_values<T>().data();
    const int64_t slice = n * inner;
    pool.parallel_for(outer, std::max<int64_t>(1, 16384 / slice), [&](int64_t lo, int64_t hi) {
      std::vector<double> mx, sum;
      std::vector<int64_t> arg;
      for (int64_t o = lo; o < hi; ++o) softmax_slice(kind, px + o * slice, py + o * slice, n, inner, mx, sum, arg);
    });
  });
  return out;
}

}  // namespace scalec::kernels
