#pragma once
// The one tolerance rule of STYLE.md ("Tests"): |got - ref| <= atol + rtol * |ref|.
#include <cmath>

namespace scalec::test {

/// True when `got` is within atol + rtol * |ref| of `ref`; NaN never matches.
inline bool near(double got, double ref, double atol = 1e-12, double rtol = 1e-9) {
  return std::fabs(got - ref) <= atol + rtol * std::fabs(ref);
}

}  // namespace scalec::test
