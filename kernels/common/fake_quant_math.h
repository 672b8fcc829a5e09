#pragma once
// Fake quantization formulas (quantize-aware training), shared by the CPU kernel and a CUDA twin:
//   q = round_half_even(x / s) + z,  y = (clamp(q, qmin, qmax) - z) * s
// in the element type of x, as QuantizeLinear followed by DequantizeLinear computes it (so a trained
// graph exported as Q -> DQ computes the same numbers). Backward (straight-through estimator with
// the LSQ scale gradient, Esser et al. 2020):
//   dx = dy where qmin <= q <= qmax, else 0
//   ds = dy * (round(x / s) - x / s)   inside,   dy * (qmin - z) below,   dy * (qmax - z) above
#include "kernels/common/quantize_math.h"

namespace scalec::kernels {

/// Where x's unclamped integer fell: below qmin, inside [qmin, qmax], or above qmax.
enum class FakeQuantSide : int { kBelow = -1, kInside = 0, kAbove = 1 };

/// One fake-quantized element and where its integer fell (T: float or double).
template <typename T>
struct FakeQuantResult {
  T y;
  T rounding;  ///< round(x / s) - x / s (the LSQ scale term inside the range)
  FakeQuantSide side;
};

/// Fake-quantizes x with scale s and zero point z into [qmin, qmax].
template <typename T>
SCALEC_HD inline FakeQuantResult<T> fake_quantize(T x, T s, int64_t z, int64_t qmin, int64_t qmax) {
  const T v = x / s;
  const double r = v != v ? 0.0 : round_half_even(static_cast<double>(v));
  const double q = r + static_cast<double>(z);
  FakeQuantResult<T> out;
  out.side = q < static_cast<double>(qmin) ? FakeQuantSide::kBelow
             : q > static_cast<double>(qmax) ? FakeQuantSide::kAbove
                                             : FakeQuantSide::kInside;
  const int64_t qc = saturate_to(q, qmin, qmax);
  out.y = static_cast<T>(qc - z) * s;
  out.rounding = static_cast<T>(r) - v;
  return out;
}

}  // namespace scalec::kernels
