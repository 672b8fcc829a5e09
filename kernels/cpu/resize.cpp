// Resize data passes: a gather over all axes for nearest (any fixed-size element type, copied as
// raw bits), and one weighted 1-D pass per resized axis for linear and cubic.
#include "kernels/cpu/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Multiply-adds per parallel chunk.
constexpr int64_t kResizeGrain = 32768;

// Converts an interpolated value to T; integers truncate (as the reference's astype) and saturate.
template <typename T, typename Acc>
T to_element(Acc v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    if (std::isnan(v)) return T(0);
    const double t = std::trunc(static_cast<double>(v));
    if (t <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (t >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(t);
  }
}

// Nearest: out[o_0, ..., o_k] = x[index_0[o_0], ..., index_k[o_k]], copied as E (raw bits of T).
template <typename E>
void gather(ThreadPool& pool, const E* src, E* dst, const std::vector<int64_t>& in_shape,
            const std::vector<int64_t>& out_shape, const std::vector<ResizeAxisPlan>& plans) {
  const size_t rank = out_shape.size();
  const std::vector<int64_t> in_strides = contiguous_strides(in_shape);
  std::vector<std::vector<int64_t>> offsets(rank);
  for (size_t d = 0; d < rank; ++d) {
    offsets[d].resize(out_shape[d]);
    for (int64_t o = 0; o < out_shape[d]; ++o) {
      const ResizeAxisPlan& p = plans[d];
      offsets[d][o] = p.outside[o] ? 0 : p.index[p.first[o]] * in_strides[d];  // outside: filled afterwards
    }
  }
  const int64_t row = rank == 0 ? 1 : out_shape[rank - 1];
  const int64_t rows = row == 0 ? 0 : shape_numel(out_shape) / row;
  const std::vector<int64_t>& last = offsets[rank - 1];
  pool.parallel_for(rows, std::max<int64_t>(1, kResizeGrain / std::max<int64_t>(1, row)), [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> o(rank, 0);
    int64_t rem = lo;
    for (size_t d = rank - 1; d-- > 0;) {
      o[d] = rem % out_shape[d];
      rem /= out_shape[d];
    }
    for (int64_t r = lo; r < hi; ++r) {
      int64_t base = 0;
      for (size_t d = 0; d + 1 < rank; ++d) base += offsets[d][o[d]];
      E* out = dst + r * row;
      for (int64_t j = 0; j < row; ++j) out[j] = src[base + last[j]];
      for (size_t d = rank - 1; d-- > 0;) {
        if (++o[d] < out_shape[d]) break;
        o[d] = 0;
      }
    }
  });
}

// One linear/cubic pass along `axis`: shape[axis] goes from plan.in to plan.out.
template <typename Acc>
void interpolate_axis(ThreadPool& pool, const Acc* src, Acc* dst, const std::vector<int64_t>& shape, size_t axis,
                      const ResizeAxisPlan& plan) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t n_in = plan.in, n_out = plan.out;
  std::vector<Acc> w(plan.weight.begin(), plan.weight.end());
  const int64_t taps = std::max<int64_t>(1, static_cast<int64_t>(plan.index.size()) / std::max<int64_t>(1, n_out));
  const int64_t grain = std::max<int64_t>(1, kResizeGrain / (inner * taps));
  pool.parallel_for(outer * n_out, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t b = t / n_out, o = t % n_out;
      const Acc* in = src + b * n_in * inner;
      Acc* out = dst + t * inner;
      const int64_t k0 = plan.first[o], k1 = plan.first[o + 1];
      if (k0 == k1) {
        std::fill_n(out, inner, Acc(0));  // outside (tf_crop_and_resize): filled at the end
        continue;
      }
      const Acc* row = in + plan.index[k0] * inner;
      const Acc w0 = w[k0];
      for (int64_t j = 0; j < inner; ++j) out[j] = w0 * row[j];
      for (int64_t k = k0 + 1; k < k1; ++k) {
        const Acc* rk = in + plan.index[k] * inner;
        const Acc wk = w[k];
        for (int64_t j = 0; j < inner; ++j) out[j] += wk * rk[j];
      }
    }
  });
}

template <typename T>
Tensor interpolate(ThreadPool& pool, const Tensor& x, const std::vector<ResizeAxisPlan>& plans, const ResizeOptions& opt) {
  using Acc = std::conditional_t<std::is_same_v<T, float>, float, double>;
  std::vector<int64_t> shape = x.shape();
  std::vector<int64_t> out_shape;
  for (const ResizeAxisPlan& p : plans) out_shape.push_back(p.out);
  Tensor y(dtype_of<T>(), out_shape);
  if (y.numel() == 0) return y;
  // Shrinking axes first keeps the intermediate tensors small.
  std::vector<size_t> order;
  for (size_t d = 0; d < plans.size(); ++d) {
    if (!plans[d].identity()) order.push_back(d);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plans[a].out * plans[b].in < plans[b].out * plans[a].in;
  });
  const T* px = x.values<T>().data();
  std::vector<Acc> cur(px, px + x.numel()), next;
  for (size_t d : order) {
    std::vector<int64_t> next_shape = shape;
    next_shape[d] = plans[d].out;
    next.assign(static_cast<size_t>(shape_numel(next_shape)), Acc(0));
    interpolate_axis<Acc>(pool, cur.data(), next.data(), shape, d, plans[d]);
    cur.swap(next);
    shape = next_shape;
  }
  T* py = y.mutable_values<T>().data();
  for (size_t i = 0; i < cur.size(); ++i) py[i] = to_element<T>(cur[i]);
  resize_fill_outside(py, out_shape, plans, to_element<T>(static_cast<double>(opt.extrapolation)));
  return y;
}

Tensor nearest(ThreadPool& pool, const Tensor& x, const std::vector<ResizeAxisPlan>& plans, const ResizeOptions& opt,
               const std::string& where) {
  std::vector<int64_t> out_shape;
  bool any_outside = false;
  for (const ResizeAxisPlan& p : plans) {
    out_shape.push_back(p.out);
    any_outside = any_outside || p.any_outside;
  }
  const int bits = ir::dtype_bits(x.dtype());
  if (x.dtype() == ir::DType::kString || (bits != 8 && bits != 16 && bits != 32 && bits != 64)) {
    throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
  }
  Tensor y(x.dtype(), out_shape);
  if (y.numel() == 0) return y;
  if (out_shape.empty()) return Tensor(x.dtype(), out_shape, x.storage());
  const std::byte* src = x.bytes().data();
  std::byte* dst = y.mutable_bytes().data();
  switch (bits) {
    case 8: gather(pool, reinterpret_cast<const uint8_t*>(src), reinterpret_cast<uint8_t*>(dst), x.shape(), out_shape, plans); break;
    case 16: gather(pool, reinterpret_cast<const uint16_t*>(src), reinterpret_cast<uint16_t*>(dst), x.shape(), out_shape, plans); break;
    case 32: gather(pool, reinterpret_cast<const uint32_t*>(src), reinterpret_cast<uint32_t*>(dst), x.shape(), out_shape, plans); break;
    default: gather(pool, reinterpret_cast<const uint64_t*>(src), reinterpret_cast<uint64_t*>(dst), x.shape(), out_shape, plans); break;
  }
  if (any_outside) {
    dispatch_numeric(x.dtype(), where, [&](auto t) {
      using T = decltype(t);
      T value;
      if constexpr (std::is_same_v<T, bool>) {
        value = opt.extrapolation != 0;
      } else {
        value = to_element<T>(static_cast<double>(opt.extrapolation));
      }
      resize_fill_outside(y.mutable_values<T>().data(), out_shape, plans, value);
    });
  }
  return y;
}

}  // namespace

Tensor resize_forward_cpu(ThreadPool& pool, const Tensor& x, const ResizeRequest& req, const ResizeOptions& opt,
                          const std::string& where) {
  if (req.out.size() != x.shape().size()) {
    throw_internal("{} resize request has rank {} but the input has rank {}", where, req.out.size(), x.shape().size());
  }
  const std::vector<ResizeAxisPlan> plans = resize_plans(x.shape(), req, opt);
  if (opt.mode == ResizeMode::kNearest) return nearest(pool, x, plans, opt, where);
  return dispatch_numeric(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      throw_bad_input("{} linear and cubic modes do not support element type bool", where);
      return Tensor();
    } else {
      return interpolate<T>(pool, x, plans, opt);
    }
  });
}

}  // namespace scalec::kernels
