// Quantization numerics: k-bit ranges, scale / zero point, round half to even, clamping,
// per-channel and blockwise weights on the right axes, int4 packing (low nibble first), and an
// error budget per bit width (|w - dq(q(w))| <= scale / 2 inside the range).
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "passes/quantize/quant_math.h"

namespace scalec {
namespace {

using passes::quant::Granularity;
using passes::quant::int_range;
using passes::quant::params_from_range;
using passes::quant::quantize_value;
using passes::quant::quantize_weight;
using passes::quant::WeightQuantOptions;

ir::Tensor floats(std::vector<int64_t> shape, std::vector<float> v) { return ir::Tensor::from_floats(std::move(shape), v); }

TEST_CASE("k-bit integer ranges follow ONNX Runtime's choice", "[quant_math]") {
  auto r = int_range(8, true, true);
  CHECK((r.lo == -127 && r.hi == 127));
  r = int_range(8, true, false);
  CHECK((r.lo == -128 && r.hi == 127));
  r = int_range(8, false, false);
  CHECK((r.lo == 0 && r.hi == 255));
  r = int_range(8, false, true);
  CHECK((r.lo == 0 && r.hi == 254));
  r = int_range(3, true, false);
  CHECK((r.lo == -4 && r.hi == 3));
  r = int_range(3, true, true);
  CHECK((r.lo == -3 && r.hi == 3));
  r = int_range(2, false, false);
  CHECK((r.lo == 0 && r.hi == 3));
  CHECK_THROWS_AS(int_range(9, true, true), Error);
  CHECK_THROWS_AS(int_range(1, true, true), Error);
}

TEST_CASE("scale and zero point from a range keep zero exact", "[quant_math]") {
  auto p = params_from_range(-1.0f, 2.0f, int_range(8, true, true), true);
  CHECK(p.scale == Approx(2.0 / 127));
  CHECK(p.zero_point == 0);
  p = params_from_range(-1.0f, 2.0f, int_range(8, false, false), false);
  CHECK(p.scale == Approx(3.0 / 255));
  CHECK(p.zero_point == 85);
  CHECK(quantize_value(0.0f, p, int_range(8, false, false)) == 85);
  // A range that excludes zero is widened to contain it.
  p = params_from_range(0.5f, 2.0f, int_range(8, false, false), false);
  CHECK(p.zero_point == 0);
  CHECK(p.scale == Approx(2.0 / 255));
  // Unsigned symmetric: the middle of [0, 254].
  p = params_from_range(-1.0f, 1.0f, int_range(8, false, true), true);
  CHECK(p.zero_point == 127);
  // Degenerate range.
  p = params_from_range(0.0f, 0.0f, int_range(8, true, true), true);
  CHECK((p.scale == 1.0f && p.zero_point == 0));
}

TEST_CASE("quantize_value rounds half to even and clamps to the k-bit range", "[quant_math]") {
  const passes::quant::QuantParams one{1.0f, 0};
  const auto r8 = int_range(8, true, false);
  CHECK(quantize_value(0.5f, one, r8) == 0);
  CHECK(quantize_value(1.5f, one, r8) == 2);
  CHECK(quantize_value(2.5f, one, r8) == 2);
  CHECK(quantize_value(-2.5f, one, r8) == -2);
  CHECK(quantize_value(-0.5f, one, r8) == 0);
  CHECK(quantize_value(300.0f, one, r8) == 127);
  CHECK(quantize_value(-300.0f, one, r8) == -128);
  CHECK(quantize_value(10.0f, one, int_range(3, true, true)) == 3);
  CHECK(quantize_value(-10.0f, one, int_range(3, true, false)) == -4);
  CHECK(quantize_value(2.5f, {1.0f, 3}, int_range(8, false, false)) == 5);
}

TEST_CASE("weight axes per op", "[quant_math]") {
  ir::Graph g;
  ir::GraphBuilder b(g);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{1, 4});
  auto axes_of = [&](const std::string& op, std::vector<ir::Attribute> attrs, int64_t rank) {
    b.op(op, {x, x}, std::move(attrs));
    return passes::quant::weight_axes(*b.last_node(), rank);
  };
  auto a = axes_of("Conv", {}, 4);
  CHECK((a.channel == 0 && a.reduction == 1));
  a = axes_of("ConvTranspose", {}, 4);
  CHECK((a.channel == 1 && a.reduction == 0));
  a = axes_of("Gemm", {ir::GraphBuilder::attr("transB", int64_t{1})}, 2);
  CHECK((a.channel == 0 && a.reduction == 1));
  a = axes_of("Gemm", {}, 2);
  CHECK((a.channel == 1 && a.reduction == 0));
  a = axes_of("MatMul", {}, 3);
  CHECK((a.channel == 2 && a.reduction == 1));
}

TEST_CASE("per-channel weights: one scale per output channel, ties to even", "[quant_math]") {
  // Conv W [2, 1, 1, 2]: channel 0 max 127 (scale 1), channel 1 max 254 (scale 2).
  auto qw = quantize_weight(floats({2, 1, 1, 2}, {127.0f, 2.5f, 254.0f, -3.0f}), 0, 1, WeightQuantOptions{});
  CHECK(qw.q.dtype() == ir::DType::kInt8);
  CHECK(qw.scale.shape() == std::vector<int64_t>{2});
  CHECK(qw.scale.values<float>()[0] == 1.0f);
  CHECK(qw.scale.values<float>()[1] == 2.0f);
  CHECK(passes::quant::integer_values(qw.q) == std::vector<int64_t>{127, 2, 127, -2});
  CHECK(passes::quant::integer_values(qw.zero_point) == std::vector<int64_t>{0, 0});
  // Gemm transB=0 W [K=2, N=2]: channels along axis 1.
  qw = quantize_weight(floats({2, 2}, {127.0f, 1.0f, -63.5f, 254.0f}), 1, 0, WeightQuantOptions{});
  CHECK(qw.axis == 1);
  CHECK(qw.scale.values<float>()[0] == 1.0f);
  CHECK(qw.scale.values<float>()[1] == 2.0f);
  CHECK(passes::quant::integer_values(qw.q) == std::vector<int64_t>{127, 0, -64, 127});
}

TEST_CASE("int4 weights pack two per byte, low nibble first", "[quant_math]") {
  WeightQuantOptions o;
  o.bits = 4;
  o.granularity = Granularity::kPerTensor;
  auto qw = quantize_weight(floats({5}, {7.0f, -7.0f, 1.0f, 2.0f, 3.0f}), 0, 0, o);
  REQUIRE(qw.q.dtype() == ir::DType::kInt4);
  CHECK(qw.scale.values<float>()[0] == 1.0f);
  auto bytes = qw.q.values<uint8_t>();
  REQUIRE(bytes.size() == 3);
  CHECK(bytes[0] == 0x97);
  CHECK(bytes[1] == 0x21);
  CHECK(bytes[2] == 0x03);
  CHECK(passes::quant::integer_values(qw.q) == std::vector<int64_t>{7, -7, 1, 2, 3});
  o.is_signed = false;
  o.symmetric = false;
  qw = quantize_weight(floats({2}, {0.0f, 15.0f}), 0, 0, o);
  CHECK(qw.q.dtype() == ir::DType::kUInt4);
  CHECK(qw.q.values<uint8_t>()[0] == 0xf0);
}

TEST_CASE("k = 3 weights use the 3-bit range inside int8", "[quant_math]") {
  WeightQuantOptions o;
  o.bits = 3;
  o.granularity = Granularity::kPerTensor;
  auto qw = quantize_weight(floats({4}, {3.0f, -3.0f, 1.4f, -1.5f}), 0, 0, o);
  CHECK(qw.q.dtype() == ir::DType::kInt8);
  CHECK(qw.scale.values<float>()[0] == 1.0f);
  CHECK(passes::quant::integer_values(qw.q) == std::vector<int64_t>{3, -3, 1, -2});
}

TEST_CASE("blockwise weights: blocks along the reduction axis, last block short", "[quant_math]") {
  // MatMul W [K=5, N=2], block 2 along K: scale [3, 2].
  WeightQuantOptions o;
  o.bits = 4;
  o.granularity = Granularity::kBlock;
  o.block_size = 2;
  auto w = floats({5, 2}, {7, 1, -7, 2, 14, 3, 0, 4, 1, 7});
  auto qw = quantize_weight(w, 1, 0, o);
  CHECK(qw.axis == 0);
  CHECK(qw.block_size == 2);
  REQUIRE(qw.scale.shape() == std::vector<int64_t>{3, 2});
  auto s = qw.scale.values<float>();
  CHECK(std::vector<float>(s.begin(), s.end()) == std::vector<float>{1, 2.0f / 7, 2, 4.0f / 7, 1.0f / 7, 1});
  auto dq = passes::quant::dequantize_weight(qw);
  for (int64_t i = 0; i < w.numel(); ++i) {
    CHECK(dq.values<float>()[static_cast<size_t>(i)] == Approx(w.values<float>()[static_cast<size_t>(i)]).margin(0.3));
  }
}

TEST_CASE("error budget per bit width: at most half a step per element", "[quant_math]") {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> v(64 * 32);
  for (float& x : v) x = dist(rng);
  const auto w = floats({64, 32}, v);
  for (int bits = 2; bits <= 8; ++bits) {
    for (Granularity gran : {Granularity::kPerTensor, Granularity::kPerChannel, Granularity::kBlock}) {
      WeightQuantOptions o;
      o.bits = bits;
      o.granularity = gran;
      o.block_size = 32;
      o.symmetric = bits % 2 == 0;  // both kinds of range
      auto qw = quantize_weight(w, 0, 1, o);
      auto dq = passes::quant::dequantize_weight(qw);
      float max_scale = 0;
      for (float s : qw.scale.values<float>()) max_scale = std::max(max_scale, s);
      double worst = 0;
      for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::fabs(double(dq.values<float>()[i]) - v[i]));
      INFO("bits " << bits << " granularity " << static_cast<int>(gran));
      CHECK(worst <= 0.5 * max_scale * (1 + 1e-5));
    }
  }
  WeightQuantOptions bad;
  bad.bits = 9;
  CHECK_THROWS_AS(quantize_weight(w, 0, 1, bad), Error);
}

}  // namespace
}  // namespace scalec
