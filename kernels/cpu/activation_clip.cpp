// CPU Clip (every numeric type, float16 and bfloat16) and PRelu (slope broadcast to X).
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/activation_map.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

template <typename V>
bool is_nan_value(V v) {
  if constexpr (std::is_floating_point_v<V>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// Clip over storage type S, comparing decoded values; each output element is bitwise x, lo or hi.
template <typename S, typename Decode>
Tensor clip_typed(ThreadPool& pool, const Tensor& x, const Tensor* lo, const Tensor* hi, Decode decode) {
  const S lo_s = lo ? lo->values<S>()[0] : S{};
  const S hi_s = hi ? hi->values<S>()[0] : S{};
  const auto lo_v = decode(lo_s);
  const auto hi_v = decode(hi_s);
  // A NaN bound makes every element NaN, as numpy's clip (maximum/minimum) does.
  const bool use_lo = lo != nullptr, lo_nan = use_lo && is_nan_value(lo_v);
  const bool use_hi = hi != nullptr, hi_nan = use_hi && is_nan_value(hi_v);
  return unary_map<S, S>(pool, x, [&](S v) {
    auto d = decode(v);
    if (use_lo && (d < lo_v || lo_nan)) {
      v = lo_s;
      d = lo_v;
    }
    if (use_hi && (d > hi_v || hi_nan)) v = hi_s;
    return v;
  });
}

void check_bound(const Tensor& x, const Tensor* b, const char* name, const std::string& where) {
  if (!b) return;
  if (b->numel() != 1) {
    throw_bad_input("{} {} must be a scalar, got shape {}", where, name, ir::shape_to_string(b->shape()));
  }
  if (b->dtype() != x.dtype()) {
    throw_bad_input("{} {} is {} but the input is {}", where, name, ir::dtype_name(b->dtype()), ir::dtype_name(x.dtype()));
  }
}

}  // namespace

Tensor clip_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor* lo, const Tensor* hi, const std::string& where) {
  check_bound(x, lo, "min", where);
  check_bound(x, hi, "max", where);
  if (x.dtype() == DType::kFloat16) {
    return relabel(x.dtype(), clip_typed<uint16_t>(pool, x, lo, hi, [](uint16_t h) { return half_to_float(h); }));
  }
  if (x.dtype() == DType::kBFloat16) {
    return relabel(x.dtype(), clip_typed<uint16_t>(pool, x, lo, hi, [](uint16_t h) { return bfloat16_to_float(h); }));
  }
  if (x.dtype() == DType::kFloat && !(lo && std::isnan(lo->values<float>()[0])) &&
      !(hi && std::isnan(hi->values<float>()[0]))) {
    // Branch-free float path (the generic one does not vectorize): a NaN x stays NaN, as there.
    const float l = lo ? lo->values<float>()[0] : -std::numeric_limits<float>::infinity();
    const float h = hi ? hi->values<float>()[0] : std::numeric_limits<float>::infinity();
    return unary_map<float, float>(pool, x, [l, h](float v) {
      v = v < l ? l : v;
      return v > h ? h : v;
    });
  }
  return dispatch_numeric(x.dtype(), where, [&](auto t) -> Tensor {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      throw_bad_input("{} does not support element type bool", where);
    } else {
      return clip_typed<T>(pool, x, lo, hi, [](T v) { return v; });
    }
  });
}

Tensor prelu_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& slope, const std::string& where) {
  if (slope.dtype() != x.dtype()) {
    throw_bad_input("{} slope is {} but the input is {}", where, ir::dtype_name(slope.dtype()), ir::dtype_name(x.dtype()));
  }
  if (broadcast_shape({x.shape(), slope.shape()}, where) != x.shape()) {
    throw_bad_input("{} slope shape {} does not broadcast to the input shape {}", where,
                    ir::shape_to_string(slope.shape()), ir::shape_to_string(x.shape()));
  }
  if (is_half_type(x.dtype())) {
    const bool bf = x.dtype() == DType::kBFloat16;
    return relabel(x.dtype(), binary_map<uint16_t, uint16_t, uint16_t>(pool, x, slope, where, [bf](uint16_t a, uint16_t s) {
                     float v = bf ? bfloat16_to_float(a) : half_to_float(a);
                     if (!(v < 0.0f)) return a;
                     float y = v * (bf ? bfloat16_to_float(s) : half_to_float(s));
                     return bf ? float_to_bfloat16(y) : float_to_half(y);
                   }));
  }
  return dispatch_numeric(x.dtype(), where, [&](auto t) -> Tensor {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      throw_bad_input("{} does not support element type bool", where);
    } else {
      return binary_map<T, T, T>(pool, x, slope, where, [](T v, T s) { return v < T(0) ? static_cast<T>(s * v) : v; });
    }
  });
}

}  // namespace scalec::kernels
