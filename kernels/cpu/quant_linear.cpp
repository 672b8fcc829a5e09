#include "kernels/cpu/quant_linear.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "ir/error.h"
#include "kernels/common/quantize_math.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/elementwise.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& where) {
  if (axis < -rank || axis >= rank) throw_bad_input("{} axis {} is out of range for rank {}", where, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

int64_t product(const std::vector<int64_t>& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

// Calls f(flat, scale_index) for every element of x, walking (o, d, i) incrementally.
template <typename F>
void for_each_scaled(ThreadPool& pool, int64_t n, const QuantLayout& l, F&& f) {
  pool.parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    if (lo >= hi) return;
    int64_t i = lo % l.inner, r = lo / l.inner;
    int64_t d = r % l.dim, o = r / l.dim;
    int64_t db = d / l.block, dr = d % l.block;
    for (int64_t flat = lo; flat < hi; ++flat) {
      f(flat, o * l.outer_stride + db * l.dim_stride + i * l.inner_stride);
      if (++i < l.inner) continue;
      i = 0;
      if (++dr == l.block) dr = 0, ++db;
      if (++d == l.dim) d = 0, db = 0, dr = 0, ++o;
    }
  });
}

std::optional<Float8Kind> float8_kind(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN:
      return Float8Kind::kE4M3FN;
    case DType::kFloat8E4M3FNUZ:
      return Float8Kind::kE4M3FNUZ;
    case DType::kFloat8E5M2:
      return Float8Kind::kE5M2;
    case DType::kFloat8E5M2FNUZ:
      return Float8Kind::kE5M2FNUZ;
    default:
      return std::nullopt;
  }
}

// Zero points as integers, one per scale; float8 zero points must be 0.
std::vector<int64_t> zero_point_values(const Tensor* zp, size_t count, const std::string& where) {
  std::vector<int64_t> out(count, 0);
  if (zp == nullptr) return out;
  if (static_cast<size_t>(zp->numel()) != count) {
    throw_bad_input("{} zero point has shape {} but the scale has {} elements", where, ir::shape_to_string(zp->shape()),
                    count);
  }
  if (auto kind = float8_kind(zp->dtype())) {
    const auto* p = reinterpret_cast<const uint8_t*>(zp->bytes().data());
    for (size_t k = 0; k < count; ++k) {
      if (float8_to_float(p[k], *kind) != 0.0f) throw_bad_input("{} a float8 zero point must be 0", where);
    }
    return out;
  }
  for (size_t k = 0; k < count; ++k) out[k] = static_cast<int64_t>(zp->element_as_double(static_cast<int64_t>(k)));
  return out;
}

// x / scale as QuantizeLinear computes it: in the precision of x (float16 rounds the quotient).
struct DivFloat {
  const float* p;
  float operator()(int64_t i, double s) const { return p[i] / static_cast<float>(s); }
};
struct DivHalf {
  const uint16_t* p;
  float operator()(int64_t i, double s) const {
    return half_to_float(float_to_half(half_to_float(p[i]) / static_cast<float>(s)));
  }
};
struct DivBFloat16 {
  const uint16_t* p;
  float operator()(int64_t i, double s) const {
    return bfloat16_to_float(float_to_bfloat16(bfloat16_to_float(p[i]) / static_cast<float>(s)));
  }
};
template <typename T>
struct DivWide {  // int32 and double inputs divide in double
  const T* p;
  double operator()(int64_t i, double s) const { return static_cast<double>(p[i]) / s; }
};

template <typename F>
decltype(auto) with_divider(const Tensor& x, const std::string& where, F&& f) {
  const std::byte* b = x.bytes().data();
  switch (x.dtype()) {
    case DType::kFloat:
      return f(DivFloat{reinterpret_cast<const float*>(b)});
    case DType::kFloat16:
      return f(DivHalf{reinterpret_cast<const uint16_t*>(b)});
    case DType::kBFloat16:
      return f(DivBFloat16{reinterpret_cast<const uint16_t*>(b)});
    case DType::kInt32:
      return f(DivWide<int32_t>{reinterpret_cast<const int32_t*>(b)});
    case DType::kDouble:
      return f(DivWide<double>{reinterpret_cast<const double*>(b)});
    default:
      throw_bad_input("{} does not support input type {}", where, ir::dtype_name(x.dtype()));
  }
}

template <typename Q, typename Div>
void quantize_ints(ThreadPool& pool, int64_t n, const QuantLayout& l, Div div, const std::vector<double>& scales,
                   const std::vector<int64_t>& zps, std::pair<int64_t, int64_t> range, Q* out) {
  for_each_scaled(pool, n, l, [&](int64_t flat, int64_t s) {
    out[flat] =
        static_cast<Q>(quantize_scaled(static_cast<double>(div(flat, scales[s])), zps[s], range.first, range.second));
  });
}

}  // namespace

QuantLayout resolve_quant_layout(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& scale_shape,
                                 int64_t axis, int64_t block_size, bool allow_axis, const std::string& where) {
  const auto rank = static_cast<int64_t>(x_shape.size());
  QuantLayout l;
  l.dim = shape_numel(x_shape);
  if (block_size < 0) throw_bad_input("{} block_size must be positive, got {}", where, block_size);
  if (block_size > 0) {
    if (static_cast<int64_t>(scale_shape.size()) != rank || rank == 0) {
      throw_bad_input("{} blocked quantization needs a scale of the input's rank: input {}, scale {}", where,
                      ir::shape_to_string(x_shape), ir::shape_to_string(scale_shape));
    }
    const int64_t a = normalize_axis(axis, rank, where);
    for (int64_t j = 0; j < rank; ++j) {
      const int64_t want = j == a ? (x_shape[j] + block_size - 1) / block_size : x_shape[j];
      if (scale_shape[j] != want) {
        throw_bad_input("{} scale shape {} does not fit input {} with block_size {} on axis {}", where,
                        ir::shape_to_string(scale_shape), ir::shape_to_string(x_shape), block_size, a);
      }
    }
    l.outer = product(x_shape, 0, a);
    l.dim = x_shape[a];
    l.inner = product(x_shape, a + 1, x_shape.size());
    l.block = block_size;
    l.outer_stride = scale_shape[a] * l.inner;
    l.dim_stride = l.inner;
    l.inner_stride = 1;
    return l;
  }
  if (shape_numel(scale_shape) == 1 && scale_shape.size() <= 1) return l;  // per tensor
  if (!allow_axis || scale_shape.size() != 1 || rank == 0) {
    throw_bad_input("{} scale must be a scalar{} but has shape {}", where, allow_axis ? " or a 1-D tensor" : "",
                    ir::shape_to_string(scale_shape));
  }
  const int64_t a = rank == 1 ? 0 : normalize_axis(axis, rank, where);
  if (scale_shape[0] != x_shape[a]) {
    throw_bad_input("{} per-axis scale has {} elements but input {} has {} along axis {}", where, scale_shape[0],
                    ir::shape_to_string(x_shape), x_shape[a], a);
  }
  l.outer = product(x_shape, 0, a);
  l.dim = x_shape[a];
  l.inner = product(x_shape, a + 1, x_shape.size());
  l.dim_stride = 1;
  return l;
}

std::vector<float> quant_scale_values(const Tensor& scale, const std::string& where) {
  switch (scale.dtype()) {
    case DType::kFloat:
    case DType::kDouble:
    case DType::kFloat16:
    case DType::kBFloat16:
      break;
    default:
      throw_bad_input("{} scale must be a float tensor, got {}", where, ir::dtype_name(scale.dtype()));
  }
  std::vector<float> out(static_cast<size_t>(scale.numel()));
  for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<float>(scale.element_as_double(static_cast<int64_t>(k)));
  return out;
}

std::pair<int64_t, int64_t> quant_range(DType t) {
  switch (t) {
    case DType::kInt4:
      return {-8, 7};
    case DType::kUInt4:
      return {0, 15};
    case DType::kInt8:
      return {-128, 127};
    case DType::kUInt8:
      return {0, 255};
    case DType::kInt16:
      return {-32768, 32767};
    case DType::kUInt16:
      return {0, 65535};
    case DType::kInt32:
      return {INT32_MIN, INT32_MAX};
    default:
      return {0, 0};
  }
}

Tensor quantize_linear_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                                   const QuantLayout& layout, DType out, bool saturate, const std::string& where) {
  std::vector<double> scales;
  if (scale.dtype() == DType::kDouble) {
    for (int64_t k = 0; k < scale.numel(); ++k) scales.push_back(scale.element_as_double(k));
  } else {
    for (float s : quant_scale_values(scale, where)) scales.push_back(s);
  }
  const std::vector<int64_t> zps = zero_point_values(zero_point, scales.size(), where);
  const int64_t n = x.numel();
  Tensor y(out, x.shape());
  std::byte* py = y.mutable_bytes().data();
  with_divider(x, where, [&](auto div) {
    const auto range = quant_range(out);
    switch (out) {
      case DType::kInt8:
        return quantize_ints(pool, n, layout, div, scales, zps, range, reinterpret_cast<int8_t*>(py));
      case DType::kUInt8:
        return quantize_ints(pool, n, layout, div, scales, zps, range, reinterpret_cast<uint8_t*>(py));
      case DType::kInt16:
        return quantize_ints(pool, n, layout, div, scales, zps, range, reinterpret_cast<int16_t*>(py));
      case DType::kUInt16:
        return quantize_ints(pool, n, layout, div, scales, zps, range, reinterpret_cast<uint16_t*>(py));
      case DType::kInt4:
      case DType::kUInt4: {
        // Quantize unpacked, then pack: parallel chunks must not share a byte.
        std::vector<int8_t> q(static_cast<size_t>(n));
        quantize_ints(pool, n, layout, div, scales, zps, range, q.data());
        auto* bytes = reinterpret_cast<uint8_t*>(py);
        for (int64_t k = 0; k < n; k += 2) bytes[k / 2] = pack_4bit(q[k], k + 1 < n ? q[k + 1] : 0);
        return;
      }
      default:
        break;
    }
    if (auto kind = float8_kind(out)) {
      auto* q = reinterpret_cast<uint8_t*>(py);
      for_each_scaled(pool, n, layout, [&](int64_t flat, int64_t s) {
        q[flat] = float_to_float8(static_cast<float>(div(flat, scales[s])), *kind, saturate);
      });
      return;
    }
    throw_bad_input("{} does not support output type {}", where, ir::dtype_name(out));
  });
  return y;
}

namespace {

// Element i of a quantized tensor as double.
template <typename T>
struct LoadInt {
  const T* p;
  double operator()(int64_t i) const { return static_cast<double>(p[i]); }
};
struct Load4Bit {
  const uint8_t* p;
  bool is_signed;
  double operator()(int64_t i) const { return unpack_4bit(p, i, is_signed); }
};
struct LoadFloat8 {
  const uint8_t* p;
  Float8Kind kind;
  double operator()(int64_t i) const { return float8_to_float(p[i], kind); }
};

template <typename F>
decltype(auto) with_loader(const Tensor& x, const std::string& where, F&& f) {
  const std::byte* b = x.bytes().data();
  const auto* u8 = reinterpret_cast<const uint8_t*>(b);
  switch (x.dtype()) {
    case DType::kInt8:
      return f(LoadInt<int8_t>{reinterpret_cast<const int8_t*>(b)});
    case DType::kUInt8:
      return f(LoadInt<uint8_t>{u8});
    case DType::kInt16:
      return f(LoadInt<int16_t>{reinterpret_cast<const int16_t*>(b)});
    case DType::kUInt16:
      return f(LoadInt<uint16_t>{reinterpret_cast<const uint16_t*>(b)});
    case DType::kInt32:
      return f(LoadInt<int32_t>{reinterpret_cast<const int32_t*>(b)});
    case DType::kInt4:
      return f(Load4Bit{u8, true});
    case DType::kUInt4:
      return f(Load4Bit{u8, false});
    default:
      break;
  }
  if (auto kind = float8_kind(x.dtype())) return f(LoadFloat8{u8, *kind});
  throw_bad_input("{} does not support input type {}", where, ir::dtype_name(x.dtype()));
}

}  // namespace

Tensor dequantize_linear_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                                     const QuantLayout& layout, const std::string& where) {
  std::vector<double> scales;
  for (int64_t k = 0; k < scale.numel(); ++k) scales.push_back(scale.element_as_double(k));
  if (scale.dtype() != DType::kDouble) quant_scale_values(scale, where);  // checks the type
  if (zero_point && zero_point->dtype() != x.dtype()) {
    throw_bad_input("{} zero point type {} differs from input type {}", where, ir::dtype_name(zero_point->dtype()),
                    ir::dtype_name(x.dtype()));
  }
  const std::vector<int64_t> zp_ints = zero_point_values(zero_point, scales.size(), where);
  const std::vector<double> zps(zp_ints.begin(), zp_ints.end());
  const int64_t n = x.numel();
  Tensor y(scale.dtype(), x.shape());
  std::byte* py = y.mutable_bytes().data();
  with_loader(x, where, [&](auto load) {
    // (x - zp) * scale is exact in double for the 4- to 16-bit and float8 types, so rounding once to
    // float gives the float32 product ONNX computes; float16/bfloat16 then round from that float.
    auto run = [&](auto* out, auto store) {
      for_each_scaled(pool, n, layout,
                      [&](int64_t flat, int64_t s) { out[flat] = store((load(flat) - zps[s]) * scales[s]); });
    };
    switch (scale.dtype()) {
      case DType::kFloat:
        return run(reinterpret_cast<float*>(py), [](double v) { return static_cast<float>(v); });
      case DType::kDouble:
        return run(reinterpret_cast<double*>(py), [](double v) { return v; });
      case DType::kFloat16:
        return run(reinterpret_cast<uint16_t*>(py), [](double v) { return float_to_half(static_cast<float>(v)); });
      default:
        return run(reinterpret_cast<uint16_t*>(py), [](double v) { return float_to_bfloat16(static_cast<float>(v)); });
    }
  });
  return y;
}

std::vector<Tensor> dynamic_quantize_linear_forward_cpu(ThreadPool& pool, const Tensor& x, const std::string& where) {
  if (x.dtype() != DType::kFloat) {
    throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
  }
  const float* px = x.values<float>().data();
  const int64_t n = x.numel();
  // Per-chunk min/max (exact, so the result does not depend on the thread count); NaNs are skipped.
  const int64_t chunks = (n + kElementwiseGrain - 1) / kElementwiseGrain;
  std::vector<float> mins(static_cast<size_t>(chunks), 0.0f), maxs(static_cast<size_t>(chunks), 0.0f);
  pool.parallel_for(chunks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      float mn = 0.0f, mx = 0.0f;  // the range always includes 0
      for (int64_t i = c * kElementwiseGrain; i < std::min(n, (c + 1) * kElementwiseGrain); ++i) {
        mn = std::min(mn, px[i]);  // std::min(a, NaN) keeps a
        mx = std::max(mx, px[i]);
      }
      mins[static_cast<size_t>(c)] = mn;
      maxs[static_cast<size_t>(c)] = mx;
    }
  });
  float minx = 0.0f, maxx = 0.0f;
  for (int64_t c = 0; c < chunks; ++c) {
    minx = std::min(minx, mins[static_cast<size_t>(c)]);
    maxx = std::max(maxx, maxs[static_cast<size_t>(c)]);
  }
  const float scale = (maxx == minx ? 1.0f : maxx - minx) / 255.0f;
  const float initial_zp = 0.0f - minx / scale;
  const float zp = round_half_even(std::clamp(initial_zp, 0.0f, 255.0f));
  Tensor y(DType::kUInt8, x.shape());
  uint8_t* py = y.mutable_values<uint8_t>().data();
  pool.parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      py[i] = static_cast<uint8_t>(quantize_scaled(px[i] / scale, static_cast<int64_t>(zp), 0, 255));
  });
  Tensor y_scale = Tensor::from_floats({}, std::vector<float>{scale});
  Tensor y_zp(DType::kUInt8, {});
  y_zp.mutable_values<uint8_t>()[0] = static_cast<uint8_t>(zp);
  return {y, y_scale, y_zp};
}

}  // namespace scalec::kernels
