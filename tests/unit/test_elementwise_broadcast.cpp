// binary_map's broadcasting paths (same shape, scalar, and rows over collapsed axes where each
// operand is contiguous or one repeated value) against a naive unravel-the-index loop.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/thread_pool.h"

using namespace scalec;
using ir::DType;
using ir::Tensor;

namespace {

using Shape = std::vector<int64_t>;

Tensor counting_floats(const Shape& shape, uint32_t seed) {
  Tensor t(DType::kFloat, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (float& v : t.mutable_values<float>()) v = dist(rng);
  return t;
}

// The element of `t` (numpy-broadcast to `out`) that output index `i` reads.
float broadcast_at(const Tensor& t, const Shape& out, int64_t i) {
  const size_t pad = out.size() - t.shape().size();
  int64_t offset = 0, stride = 1;
  for (size_t d = out.size(); d-- > 0;) {
    const int64_t idx = i % out[d];
    i /= out[d];
    if (d < pad) continue;
    const int64_t extent = t.shape()[d - pad];
    if (extent != 1) offset += idx * stride;
    stride *= extent;
  }
  return t.values<float>()[static_cast<size_t>(offset)];
}

}  // namespace

TEST_CASE("binary_map broadcasts like numpy on every path", "[elementwise]") {
  kernels::ThreadPool pool(2);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {2, 3, 4}},             // same shape
      {{5, 7}, {}},                       // scalar right
      {{}, {5, 7}},                       // scalar left
      {{6, 10, 256}, {256}},              // bias row over a batch
      {{256}, {6, 10, 256}},              // ... on the left
      {{4, 6, 5, 5}, {6, 1, 1}},          // per channel
      {{4, 6, 5, 5}, {1, 6, 1, 1}},       // per channel, leading 1
      {{3, 1, 5}, {1, 4, 1}},             // both broadcast (outer product)
      {{2, 3, 1, 7}, {3, 5, 1}},          // mixed, extent-1 axes in the middle
      {{1, 1, 9}, {9, 1}},                // output [9, 9]
      {{6, 1}, {1}},                      // extent-1 everything on the right
      {{0, 3}, {3}},                      // empty
      {{2, 1, 3, 1, 4}, {2, 5, 3, 6, 1}}, // alternating
  };
  uint32_t seed = 1;
  for (const auto& [sa, sb] : cases) {
    Tensor a = counting_floats(sa, seed++), b = counting_floats(sb, seed++);
    Tensor y = kernels::binary_map<float, float, float>(pool, a, b, "test", [](float x, float z) { return x - 2 * z; });
    Tensor gt = kernels::binary_map<bool, float, float>(pool, a, b, "test", [](float x, float z) { return x > z; });
    const Shape out = y.shape();
    INFO(ir::shape_to_string(sa) << " op " << ir::shape_to_string(sb) << " -> " << ir::shape_to_string(out));
    CHECK(gt.shape() == out);
    for (int64_t i = 0; i < y.numel(); ++i) {
      const float x = broadcast_at(a, out, i), z = broadcast_at(b, out, i);
      REQUIRE(y.values<float>()[static_cast<size_t>(i)] == x - 2 * z);
      REQUIRE(gt.values<bool>()[static_cast<size_t>(i)] == (x > z));
    }
  }
}
