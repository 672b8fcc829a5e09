// CPU Cast between every numeric type, bool, float16, bfloat16, the four float8 types, int4/uint4
// and string. Special types (16-bit and 8-bit floats, int4) are decoded to float first and encoded
// from float, as the ONNX reference does; the codecs live in kernels/common/quantize_math.h.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/activation_map.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

bool is_standard(DType t) {
  switch (t) {
    case DType::kFloat: case DType::kDouble: case DType::kInt8: case DType::kInt16: case DType::kInt32:
    case DType::kInt64: case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: case DType::kUInt64:
    case DType::kBool: return true;
    default: return false;
  }
}

bool is_float8(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 || t == DType::kFloat8E5M2FNUZ;
}

bool is_int4(DType t) { return t == DType::kInt4 || t == DType::kUInt4; }

Float8Kind float8_kind(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: return Float8Kind::kE4M3FN;
    case DType::kFloat8E4M3FNUZ: return Float8Kind::kE4M3FNUZ;
    case DType::kFloat8E5M2: return Float8Kind::kE5M2;
    default: return Float8Kind::kE5M2FNUZ;
  }
}

/// v converted to Out: truncation toward zero for float -> integer, modular for integer narrowing,
/// != 0 for bool. NaN and values outside int64 become INT64_MIN first (what x86 and numpy give),
/// so no conversion is undefined behaviour.
template <typename Out, typename In>
Out convert(In v) {
  if constexpr (std::is_same_v<Out, bool>) {
    return v != In(0);
  } else if constexpr (std::is_floating_point_v<Out> || !std::is_floating_point_v<In>) {
    return static_cast<Out>(v);
  } else {
    const auto d = static_cast<double>(v);
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) return static_cast<Out>(static_cast<int64_t>(v));
    if constexpr (std::is_same_v<Out, uint64_t>) {
      if (d >= 0.0 && d < 18446744073709551616.0) return static_cast<uint64_t>(d);
    }
    return static_cast<Out>(std::numeric_limits<int64_t>::min());
  }
}

Tensor standard_cast(ThreadPool& pool, const Tensor& x, DType to, const std::string& where) {
  return dispatch_numeric(x.dtype(), where, [&](auto tin) {
    using In = decltype(tin);
    return dispatch_numeric(to, where, [&](auto tout) {
      using Out = decltype(tout);
      return unary_map<Out, In>(pool, x, [](In v) { return convert<Out>(v); });
    });
  });
}

// float16, bfloat16, float8 or int4 -> float (exact for all of them).
Tensor decode_to_float(ThreadPool& pool, const Tensor& x) {
  const DType t = x.dtype();
  if (t == DType::kFloat16) return unary_map<float, uint16_t>(pool, x, [](uint16_t h) { return half_to_float(h); });
  if (t == DType::kBFloat16) return unary_map<float, uint16_t>(pool, x, [](uint16_t h) { return bfloat16_to_float(h); });
  if (is_float8(t)) {
    const Float8Kind k = float8_kind(t);
    return unary_map<float, uint8_t>(pool, x, [k](uint8_t c) { return float8_to_float(c, k); });
  }
  Tensor out(DType::kFloat, x.shape());
  const auto* bytes = reinterpret_cast<const uint8_t*>(x.bytes().data());
  float* po = out.mutable_values<float>().data();
  const bool is_signed = t == DType::kInt4;
  pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = static_cast<float>(unpack_4bit(bytes, i, is_signed));
  });
  return out;
}

// float -> float16, bfloat16, float8 (saturating or not) or int4 (round half to even, clamped).
Tensor encode_from_float(ThreadPool& pool, const Tensor& xf, DType to, bool saturate) {
  if (to == DType::kFloat16) return relabel(to, unary_map<uint16_t, float>(pool, xf, [](float v) { return float_to_half(v); }));
  if (to == DType::kBFloat16) {
    return relabel(to, unary_map<uint16_t, float>(pool, xf, [](float v) { return float_to_bfloat16(v); }));
  }
  if (is_float8(to)) {
    const Float8Kind k = float8_kind(to);
    return relabel(to, unary_map<uint8_t, float>(pool, xf, [k, saturate](float v) { return float_to_float8(v, k, saturate); }));
  }
  Tensor out(to, xf.shape());
  const float* px = xf.values<float>().data();
  auto* po = reinterpret_cast<uint8_t*>(out.mutable_bytes().data());
  const int64_t n = xf.numel();
  const int64_t lo_v = to == DType::kInt4 ? -8 : 0, hi_v = to == DType::kInt4 ? 7 : 15;
  auto q = [&](int64_t i) { return i < n ? static_cast<int>(quantize_scaled(px[i], 0, lo_v, hi_v)) : 0; };
  pool.parallel_for((n + 1) / 2, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) po[k] = pack_4bit(q(2 * k), q(2 * k + 1));
  });
  return out;
}

// numpy's str() of a float: shortest round-trip digits, positional for 1e-4 <= |v| < 1e16.
template <typename T>
std::string format_float(T v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const double a = std::fabs(static_cast<double>(v));
  const bool positional = a == 0.0 || (a >= 1e-4 && a < 1e16);
  auto r = std::to_chars(buf, buf + sizeof buf, v, positional ? std::chars_format::fixed : std::chars_format::scientific);
  std::string s(buf, r.ptr);
  if (positional && s.find('.') == std::string::npos) s += ".0";
  return s;
}

Tensor to_strings(const Tensor& x, const std::string& where) {
  std::vector<std::string> out(static_cast<size_t>(x.numel()));
  dispatch_numeric(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    auto v = x.values<T>();
    for (size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        out[i] = v[i] ? "True" : "False";
      } else if constexpr (std::is_floating_point_v<T>) {
        out[i] = format_float(v[i]);
      } else {
        out[i] = std::to_string(v[i]);
      }
    }
    return 0;
  });
  return Tensor::from_strings(x.shape(), std::move(out));
}

// The whole of `s` (surrounding spaces allowed) as a number; integers parsed exactly.
template <typename T>
bool parse_number(const std::string& s, T* v) {
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  if constexpr (std::is_same_v<T, int64_t>) {
    *v = std::strtoll(begin, &end, 10);
  } else {
    *v = std::strtod(begin, &end);
  }
  if (end == begin || (std::is_same_v<T, int64_t> && errno == ERANGE)) return false;
  while (*end == ' ' || *end == '\t' || *end == '\n') ++end;
  return *end == '\0';
}

Tensor from_strings(ThreadPool& pool, const Tensor& x, DType to, bool saturate, const std::string& where) {
  const auto& s = x.strings();
  const bool integral = is_standard(to) && !ir::dtype_is_float(to) && to != DType::kBool;
  Tensor parsed(integral ? DType::kInt64 : DType::kDouble, x.shape());
  for (size_t i = 0; i < s.size(); ++i) {
    double d = 0;
    bool ok = parse_number(s[i], &d);
    if (integral) {
      int64_t n = 0;
      if (parse_number(s[i], &n)) {
        ok = true;
      } else {
        n = convert<int64_t>(d);
      }
      parsed.mutable_values<int64_t>()[i] = n;
    } else {
      parsed.mutable_values<double>()[i] = d;
    }
    if (!ok) throw_bad_input("{} cannot read '{}' as {}", where, s[i], ir::dtype_name(to));
  }
  return cast_forward_cpu(pool, parsed, to, saturate, where);
}

void check_supported(DType t, const std::string& where) {
  if (is_standard(t) || is_half_type(t) || is_float8(t) || is_int4(t) || t == DType::kString) return;
  throw_bad_input("{} does not support element type {}", where, ir::dtype_name(t));
}

}  // namespace

Tensor cast_forward_cpu(ThreadPool& pool, const Tensor& x, DType to, bool saturate, const std::string& where) {
  check_supported(x.dtype(), where);
  check_supported(to, where);
  if (x.dtype() == to) return x;
  if (x.dtype() == DType::kString) return from_strings(pool, x, to, saturate, where);
  if (!is_standard(x.dtype())) return cast_forward_cpu(pool, decode_to_float(pool, x), to, saturate, where);
  if (to == DType::kString) return to_strings(x, where);
  if (is_standard(to)) return standard_cast(pool, x, to, where);
  const Tensor xf = x.dtype() == DType::kFloat ? x : standard_cast(pool, x, DType::kFloat, where);
  return encode_from_float(pool, xf, to, saturate);
}

}  // namespace scalec::kernels
