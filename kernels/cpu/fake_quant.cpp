// FakeQuantize on the CPU. Dimension letters: x viewed as [outer, C, inner] around the channel axis
// (per tensor: C = 1). Rows (outer, c) run in parallel; the scale gradient is summed per row in
// double, then per channel in row order, so the result does not depend on the thread count.
#include "kernels/cpu/fake_quant.h"

#include <cmath>
#include <vector>

#include "ir/error.h"
#include "kernels/common/fake_quant_math.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

// x as [outer, C, inner] with C the scale's length (1 per tensor).
struct Layout {
  int64_t outer = 1, channels = 1, inner = 1;
};

Layout layout_of(const ir::Tensor& x, const FakeQuantArgs& a, const std::string& where) {
  Layout l;
  const int64_t c = a.scale->numel();
  if (a.zero_point && a.zero_point->numel() != c) {
    throw_bad_input("{} zero point has {} elements, scale {}", where, a.zero_point->numel(), c);
  }
  if (c == 1) {
    l.inner = x.numel();
    return l;
  }
  if (a.scale->rank() != 1) throw_bad_input("{} scale must be a scalar or 1-D, got shape {}", where, ir::shape_to_string(a.scale->shape()));
  if (a.axis < 0 || a.axis >= x.rank() || x.shape()[a.axis] != c) {
    throw_bad_input("{} scale has {} elements but x {} has no axis {} of that size", where, c, ir::shape_to_string(x.shape()), a.axis);
  }
  l.channels = c;
  for (int64_t i = 0; i < a.axis; ++i) l.outer *= x.shape()[i];
  for (int64_t i = a.axis + 1; i < x.rank(); ++i) l.inner *= x.shape()[i];
  return l;
}

// Scales and zero points as numbers, checked: a scale must be positive and finite.
struct Params {
  std::vector<double> scale;
  std::vector<int64_t> zero_point;
};

Params params_of(const FakeQuantArgs& a, const std::string& where) {
  Params p;
  const int64_t c = a.scale->numel();
  if (a.scale->dtype() != ir::DType::kFloat && a.scale->dtype() != ir::DType::kDouble) {
    throw_bad_input("{} scale must be float or double, got {}", where, ir::dtype_name(a.scale->dtype()));
  }
  if (a.qmin >= a.qmax) throw_bad_input("{} needs qmin < qmax, got [{}, {}]", where, a.qmin, a.qmax);
  for (int64_t i = 0; i < c; ++i) {
    const double s = a.scale->element_as_double(i);
    if (!(s > 0) || !std::isfinite(s)) throw_bad_input("{} scale {} is {}: scales must be positive and finite", where, i, s);
    p.scale.push_back(s);
    p.zero_point.push_back(a.zero_point ? static_cast<int64_t>(a.zero_point->element_as_double(i)) : 0);
  }
  return p;
}

}  // namespace

ir::Tensor fake_quant_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const FakeQuantArgs& a, const std::string& where) {
  const Layout l = layout_of(x, a, where);
  const Params p = params_of(a, where);
  return dispatch_float(x.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    ir::Tensor y = ir::Tensor::uninitialized(x.dtype(), x.shape());
    const T* xv = x.values<T>().data();
    T* yv = y.mutable_values<T>().data();
    pool.parallel_for(l.outer * l.channels, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t c = row % l.channels;
        const T s = static_cast<T>(p.scale[c]);
        for (int64_t i = row * l.inner; i < (row + 1) * l.inner; ++i) {
          yv[i] = fake_quantize<T>(xv[i], s, p.zero_point[c], a.qmin, a.qmax).y;
        }
      }
    });
    return y;
  });
}

void fake_quant_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const FakeQuantArgs& a, const ir::Tensor& dy,
                             double grad_scale, ir::Tensor* dx, ir::Tensor* dscale, const std::string& where) {
  if (dy.shape() != x.shape() || dy.dtype() != x.dtype()) throw_internal("{} backward: dy does not match x", where);
  const Layout l = layout_of(x, a, where);
  const Params p = params_of(a, where);
  const int64_t rows = l.outer * l.channels;
  std::vector<double> row_ds(static_cast<size_t>(rows), 0.0);
  dispatch_float(x.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const T* xv = x.values<T>().data();
    const T* gv = dy.values<T>().data();
    T* dxv = nullptr;
    if (dx) {
      *dx = ir::Tensor::uninitialized(x.dtype(), x.shape());
      dxv = dx->mutable_values<T>().data();
    }
    pool.parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t c = row % l.channels;
        const T s = static_cast<T>(p.scale[c]);
        const int64_t z = p.zero_point[c];
        double ds = 0;
        for (int64_t i = row * l.inner; i < (row + 1) * l.inner; ++i) {
          const FakeQuantResult<T> r = fake_quantize<T>(xv[i], s, z, a.qmin, a.qmax);
          const bool inside = r.side == FakeQuantSide::kInside;
          if (dxv) dxv[i] = inside ? gv[i] : T(0);
          // d/ds of s * (clamp(q) - z): the rounding residual inside (round passes straight through),
          // the clamped integer's offset outside.
          const double term = inside ? static_cast<double>(r.rounding)
                                     : static_cast<double>((r.side == FakeQuantSide::kBelow ? a.qmin : a.qmax) - z);
          ds += static_cast<double>(gv[i]) * term;
        }
        row_ds[static_cast<size_t>(row)] = ds;
      }
    });
    return 0;
  });
  if (!dscale) return;
  *dscale = ir::Tensor(a.scale->dtype(), a.scale->shape());
  std::vector<double> per_channel(static_cast<size_t>(l.channels), 0.0);
  for (int64_t row = 0; row < rows; ++row) per_channel[static_cast<size_t>(row % l.channels)] += row_ds[static_cast<size_t>(row)];
  for (int64_t c = 0; c < l.channels; ++c) {
    const double v = per_channel[static_cast<size_t>(c)] * grad_scale;
    if (dscale->dtype() == ir::DType::kFloat) dscale->mutable_values<float>()[c] = static_cast<float>(v);
    else dscale->mutable_values<double>()[c] = v;
  }
}

}  // namespace scalec::kernels
