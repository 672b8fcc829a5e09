// CPU activations (Relu ... Gelu, Erf) and IsNaN / IsInf. Formulas: kernels/common/activation_math.h.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include <unsupported/Eigen/SpecialFunctions>

#include "kernels/common/activation_math.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/activation_map.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

bool is_integer(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kInt16: case DType::kInt32: case DType::kInt64:
    case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: case DType::kUInt64: return true;
    default: return false;
  }
}

// Relu on integers (opset 14+): max(0, x); unsigned types are returned as they are.
Tensor relu_integer(ThreadPool& pool, const Tensor& x, const std::string& where) {
  return dispatch_numeric(x.dtype(), where, [&](auto t) -> Tensor {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool> || std::is_floating_point_v<T>) {
      throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
    } else {
      return unary_map<T, T>(pool, x, [](T v) { return v < T(0) ? T(0) : v; });
    }
  });
}

// float Erf with Eigen's vectorized rational approximation (a couple of ulp on [-4, 4], exactly
// +-1 beyond); NaN passes through, which Eigen's clamp does not promise. std::erf per element
// took 59 of a transformer's 417 ms per batch of 32.
Tensor erf_float(ThreadPool& pool, const Tensor& x) {
  Tensor out = Tensor::uninitialized(DType::kFloat, x.shape());
  const float* px = x.values<float>().data();
  float* po = out.mutable_values<float>().data();
  pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    Eigen::Map<const Eigen::ArrayXf> in(px + lo, hi - lo);
    Eigen::Map<Eigen::ArrayXf> res(po + lo, hi - lo);
    res = in.erf();
    for (int64_t i = lo; i < hi; ++i) po[i] = px[i] != px[i] ? px[i] : po[i];  // Eigen's select is not vectorized
  });
  return out;
}

// The chain of erf_gelu_forward_cpu over [lo, hi) in float, through a block on the stack so the
// intermediate values stay in L1.
void erf_gelu_block(const float* x, float* y, int64_t n, float divisor, float offset, float scale) {
  constexpr int64_t kBlock = 1024;
  alignas(64) float t[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t m = std::min(kBlock, n - b);
    for (int64_t i = 0; i < m; ++i) t[i] = x[b + i] / divisor;
    Eigen::Map<Eigen::ArrayXf> tm(t, m);
    Eigen::Map<Eigen::ArrayXf> ym(y + b, m);
    ym = tm.erf();
    for (int64_t i = 0; i < m; ++i) {
      const float e = t[i] != t[i] ? t[i] : y[b + i];  // NaN passes through Erf, as in erf_float
      y[b + i] = (x[b + i] * (e + offset)) * scale;
    }
  }
}

}  // namespace

Tensor erf_gelu_forward_cpu(ThreadPool& pool, const Tensor& x, double divisor, double offset, double scale,
                            const std::string& where) {
  if (x.dtype() == DType::kDouble) {
    return unary_map<double, double>(pool, x, [=](double v) { return (v * (std::erf(v / divisor) + offset)) * scale; });
  }
  if (x.dtype() != DType::kFloat) throw_bad_input("{} fused GELU needs float or double, got {}", where, ir::dtype_name(x.dtype()));
  Tensor out = Tensor::uninitialized(DType::kFloat, x.shape());
  const float* px = x.values<float>().data();
  float* po = out.mutable_values<float>().data();
  const auto d = static_cast<float>(divisor), o = static_cast<float>(offset), s = static_cast<float>(scale);
  pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    erf_gelu_block(px + lo, po + lo, hi - lo, d, o, s);
  });
  return out;
}

Tensor activation_forward_cpu(ThreadPool& pool, UnaryOp op, const UnaryParams& p, const Tensor& x,
                              const std::string& where) {
  if (op >= UnaryOp::kSqrt) return unary_math_forward_cpu(pool, op, x, where);
  if (op == UnaryOp::kRelu && is_integer(x.dtype())) return relu_integer(pool, x, where);
  const float a = p.alpha, b = p.beta, g = p.gamma;
  switch (op) {
    case UnaryOp::kRelu: return map_float(pool, x, where, [](auto v) { return relu(v); });
    case UnaryOp::kLeakyRelu:
      return map_float(pool, x, where, [a](auto v) { return leaky_relu(v, static_cast<decltype(v)>(a)); });
    case UnaryOp::kElu: return map_float(pool, x, where, [a](auto v) { return elu(v, static_cast<decltype(v)>(a)); });
    case UnaryOp::kSelu:
      return map_float(pool, x, where, [a, g](auto v) {
        using T = decltype(v);
        return selu(v, static_cast<T>(a), static_cast<T>(g));
      });
    case UnaryOp::kCelu:
      if (a == 0.0f) throw_bad_input("{} alpha must not be 0", where);
      return map_float(pool, x, where, [a](auto v) { return celu(v, static_cast<decltype(v)>(a)); });
    case UnaryOp::kSoftplus: return map_float(pool, x, where, [](auto v) { return softplus(v); });
    case UnaryOp::kSoftsign: return map_float(pool, x, where, [](auto v) { return softsign(v); });
    case UnaryOp::kSigmoid: return map_float(pool, x, where, [](auto v) { return sigmoid(v); });
    case UnaryOp::kTanh: return map_float(pool, x, where, [](auto v) { return std::tanh(v); });
    case UnaryOp::kHardSigmoid:
      return map_float(pool, x, where, [a, b](auto v) {
        using T = decltype(v);
        return hard_sigmoid(v, static_cast<T>(a), static_cast<T>(b));
      });
    case UnaryOp::kHardSwish: return map_float(pool, x, where, [](auto v) { return hard_swish(v); });
    case UnaryOp::kMish: return map_float(pool, x, where, [](auto v) { return mish(v); });
    case UnaryOp::kThresholdedRelu:
      return map_float(pool, x, where, [a](auto v) { return thresholded_relu(v, static_cast<decltype(v)>(a)); });
    case UnaryOp::kGelu: return map_float(pool, x, where, [](auto v) { return gelu(v); });
    case UnaryOp::kGeluTanh: return map_float(pool, x, where, [](auto v) { return gelu_tanh(v); });
    case UnaryOp::kErf:
      if (x.dtype() == DType::kFloat) return erf_float(pool, x);
      return map_float(pool, x, where, [](auto v) { return std::erf(v); });
    default: throw_internal("{} unknown activation {}", where, static_cast<int>(op));
  }
}

Tensor isnan_forward_cpu(ThreadPool& pool, const Tensor& x, const std::string& where) {
  if (ir::dtype_is_float(x.dtype()) && !is_half_type(x.dtype()) && ir::dtype_bits(x.dtype()) == 8) {
    return isnan_forward_cpu(pool, cast_forward_cpu(pool, x, DType::kFloat, true, where), where);
  }
  return test_float(pool, x, where, [](auto v) { return std::isnan(v); });
}

Tensor isinf_forward_cpu(ThreadPool& pool, const Tensor& x, bool detect_negative, bool detect_positive,
                         const std::string& where) {
  if (ir::dtype_is_float(x.dtype()) && !is_half_type(x.dtype()) && ir::dtype_bits(x.dtype()) == 8) {
    Tensor xf = cast_forward_cpu(pool, x, DType::kFloat, true, where);
    return isinf_forward_cpu(pool, xf, detect_negative, detect_positive, where);
  }
  return test_float(pool, x, where, [detect_negative, detect_positive](auto v) {
    return std::isinf(v) && (v > 0 ? detect_positive : detect_negative);
  });
}

}  // namespace scalec::kernels
