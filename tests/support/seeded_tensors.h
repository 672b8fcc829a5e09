#pragma once
// Seeded float tensors for executor tests (a fixed LCG: the same values on every platform).
#include <cstdint>
#include <vector>

#include "ir/tensor.h"

namespace scalec::test {

/// Values in [-scale, scale) from a linear congruential sequence started at `seed`.
inline ir::Tensor seeded_floats(std::vector<int64_t> shape, uint32_t seed, float scale) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed;
  for (float& f : v) {
    s = s * 1664525u + 1013904223u;
    f = (static_cast<float>(s >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
  }
  return ir::Tensor::from_floats(std::move(shape), v);
}

/// A rank-0 float tensor.
inline ir::Tensor scalar_float(float v) { return ir::Tensor::from_floats({}, std::vector<float>{v}); }

}  // namespace scalec::test
