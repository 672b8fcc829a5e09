#pragma once
// Quantization formulas shared by the CPU and CUDA kernels (one place each): round half to even,
// saturation, int4/uint4 packing, float8 (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ) and the 16-bit float
// encodings of scales (float16, bfloat16). Plain functions of numbers: no tensors, no ir types.
#include <math.h>

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define SCALEC_HD __host__ __device__
#else
#define SCALEC_HD
#endif

namespace scalec::kernels {

/// Rounds to the nearest integer, ties to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2), independently of
/// the floating-point environment's rounding mode.
SCALEC_HD inline double round_half_even(double v) {
  double r = floor(v);
  double diff = v - r;
  if (diff > 0.5) return r + 1.0;
  if (diff < 0.5) return r;
  return fmod(r, 2.0) == 0.0 ? r : r + 1.0;
}

/// Float version of round_half_even (exact: every float is a double).
SCALEC_HD inline float round_half_even(float v) { return static_cast<float>(round_half_even(static_cast<double>(v))); }

/// Clamps an already integral value to [lo, hi]; NaN becomes 0 (then clamped) so that no
/// float-to-int conversion is ever undefined.
SCALEC_HD inline int64_t saturate_to(double v, int64_t lo, int64_t hi) {
  if (v != v) v = 0.0;
  if (v <= static_cast<double>(lo)) return lo;
  if (v >= static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(v);
}

/// saturate(round_half_even(v) + zero_point) into [lo, hi]: the integer QuantizeLinear formula once
/// v = x / scale has been computed.
SCALEC_HD inline int64_t quantize_scaled(double v, int64_t zero_point, int64_t lo, int64_t hi) {
  if (v != v) v = 0.0;
  return saturate_to(round_half_even(v) + static_cast<double>(zero_point), lo, hi);
}

/// Element i of a packed 4-bit tensor: element 2k in the low nibble of byte k (ONNX packing).
SCALEC_HD inline int unpack_4bit(const uint8_t* bytes, int64_t i, bool is_signed) {
  uint8_t b = bytes[i >> 1];
  int nibble = (i & 1) ? (b >> 4) : (b & 0x0f);
  return (is_signed && nibble >= 8) ? nibble - 16 : nibble;
}

/// One byte holding two 4-bit values (low: element 2k, high: element 2k+1), each already in range.
SCALEC_HD inline uint8_t pack_4bit(int low, int high) {
  return static_cast<uint8_t>((low & 0x0f) | ((high & 0x0f) << 4));
}

/// The four float8 formats of ONNX (opset 19+).
enum class Float8Kind : uint8_t { kE4M3FN, kE4M3FNUZ, kE5M2, kE5M2FNUZ };

/// Bit layout of a float8 format.
struct Float8Format {
  int mantissa_bits;
  int bias;
  double max_value;  ///< largest finite magnitude
  uint8_t max_code;  ///< its code (positive)
};

SCALEC_HD inline Float8Format float8_format(Float8Kind k) {
  switch (k) {
    case Float8Kind::kE4M3FN:
      return {3, 7, 448.0, 0x7e};
    case Float8Kind::kE4M3FNUZ:
      return {3, 8, 240.0, 0x7f};
    case Float8Kind::kE5M2:
      return {2, 15, 57344.0, 0x7b};
    default:
      return {2, 16, 57344.0, 0x7f};
  }
}

/// Decodes a float8 code to float (NaN and, for E5M2, infinities included).
SCALEC_HD inline float float8_to_float(uint8_t code, Float8Kind k) {
  const Float8Format f = float8_format(k);
  const bool uz = k == Float8Kind::kE4M3FNUZ || k == Float8Kind::kE5M2FNUZ;
  const float nan = NAN;
  if (uz && code == 0x80) return nan;
  if (k == Float8Kind::kE4M3FN && (code & 0x7f) == 0x7f) return nan;
  const int exp_bits = 7 - f.mantissa_bits;
  const int e = (code >> f.mantissa_bits) & ((1 << exp_bits) - 1);
  const int m = code & ((1 << f.mantissa_bits) - 1);
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  if (k == Float8Kind::kE5M2 && e == 31) return m == 0 ? sign * INFINITY : nan;
  if (e == 0) return sign * static_cast<float>(ldexp(static_cast<double>(m), 1 - f.bias - f.mantissa_bits));
  return sign *
         static_cast<float>(ldexp(static_cast<double>((1 << f.mantissa_bits) + m), e - f.bias - f.mantissa_bits));
}

/// Encodes v as float8, rounding to nearest even. Out-of-range values and infinities become the
/// largest finite value when `saturate`, else infinity (E5M2) or NaN (the others).
SCALEC_HD inline uint8_t float_to_float8(float v, Float8Kind k, bool saturate) {
  const Float8Format f = float8_format(k);
  const bool uz = k == Float8Kind::kE4M3FNUZ || k == Float8Kind::kE5M2FNUZ;
  const uint8_t nan_code = uz ? 0x80 : 0x7f;
  if (v != v) return nan_code;
  const uint8_t sign = (v < 0.0f || (v == 0.0f && signbit(v))) ? 0x80 : 0x00;
  const double a = fabs(static_cast<double>(v));
  const uint8_t overflow = saturate                 ? static_cast<uint8_t>(sign | f.max_code)
                           : k == Float8Kind::kE5M2 ? static_cast<uint8_t>(sign | 0x7c)
                           : uz                     ? nan_code
                                                    : static_cast<uint8_t>(sign | 0x7f);
  if (a > 1e300) return overflow;  // infinity
  const int min_exp = 1 - f.bias;  // exponent of the smallest normal
  int e2 = 0;
  frexp(a, &e2);  // a = frac * 2^e2, frac in [0.5, 1)
  const int exp = e2 - 1 < min_exp ? min_exp : e2 - 1;
  const double quantum = ldexp(1.0, exp - f.mantissa_bits);
  const double q = round_half_even(a / quantum) * quantum;  // exact: scaling by powers of two
  if (q > f.max_value) return overflow;
  if (q == 0.0) return uz ? 0x00 : sign;
  int qe = 0;
  frexp(q, &qe);
  --qe;
  if (qe < min_exp) {  // subnormal: exponent field 0
    return static_cast<uint8_t>(sign | static_cast<int>(q / ldexp(1.0, min_exp - f.mantissa_bits)));
  }
  const int mant = static_cast<int>(ldexp(q, f.mantissa_bits - qe)) - (1 << f.mantissa_bits);
  return static_cast<uint8_t>(sign | ((qe + f.bias) << f.mantissa_bits) | mant);
}

/// IEEE binary16 bits to float.
SCALEC_HD inline float half_to_float(uint16_t h) {
  const int e = (h >> 10) & 0x1f;
  const int m = h & 0x3ff;
  const float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (e == 0) return sign * static_cast<float>(ldexp(static_cast<double>(m), -24));
  if (e == 31) return m ? NAN : sign * INFINITY;
  return sign * static_cast<float>(ldexp(static_cast<double>(m + 1024), e - 25));
}

/// Float to IEEE binary16 bits, rounding to nearest even (overflow to infinity).
SCALEC_HD inline uint16_t float_to_half(float v) {
  if (v != v) return 0x7e00;
  const uint16_t sign = (v < 0.0f || (v == 0.0f && signbit(v))) ? 0x8000 : 0;
  const double a = fabs(static_cast<double>(v));
  if (a > 1e300) return sign | 0x7c00;
  int e2 = 0;
  frexp(a, &e2);
  const int exp = e2 - 1 < -14 ? -14 : e2 - 1;
  const double q = round_half_even(ldexp(a, 10 - exp)) * ldexp(1.0, exp - 10);
  if (q > 65504.0) return sign | 0x7c00;  // rounded past the largest half
  if (q == 0.0) return sign;
  int qe = 0;
  frexp(q, &qe);
  --qe;
  if (qe < -14) return static_cast<uint16_t>(sign | static_cast<int>(ldexp(q, 24)));
  const int mant = static_cast<int>(ldexp(q, 10 - qe)) - 1024;
  return static_cast<uint16_t>(sign | ((qe + 15) << 10) | mant);
}

/// bfloat16 bits to float.
SCALEC_HD inline float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/// Float to bfloat16 bits, rounding to nearest even.
SCALEC_HD inline uint16_t float_to_bfloat16(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (v != v) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace scalec::kernels
