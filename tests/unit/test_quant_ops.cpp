// Quantization ops (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
// QLinearMatMul, ConvInteger, QLinearConv) and the formulas of kernels/common/quantize_math.h:
// the exact integers of the ONNX spec examples, ties to even, saturation, int4 packing, float8,
// and per-axis / blocked / per-channel / grouped cases against naive loops.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/common/quantize_math.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/exec/executor.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::DType;
using ir::Tensor;
using scalec::test::near;

namespace {

template <typename T>
Tensor make(std::vector<int64_t> shape, const std::vector<T>& v) {
  Tensor t(kernels::dtype_of<T>(), std::move(shape));
  REQUIRE(t.numel() == static_cast<int64_t>(v.size()));
  if (!v.empty()) std::memcpy(t.mutable_bytes().data(), v.data(), v.size() * sizeof(T));
  return t;
}

// A tensor of a sub-byte, float8 or 16-bit float type from its stored bytes.
Tensor raw(DType dtype, std::vector<int64_t> shape, const std::vector<uint8_t>& bytes) {
  Tensor t(dtype, std::move(shape));
  REQUIRE(t.storage_bytes() == bytes.size());
  std::memcpy(t.mutable_bytes().data(), bytes.data(), bytes.size());
  return t;
}

template <typename T>
std::vector<T> vals(const Tensor& t) {
  REQUIRE(t.dtype() == kernels::dtype_of<T>());
  auto s = t.values<T>();
  return {s.begin(), s.end()};
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  auto b = t.bytes();
  return {reinterpret_cast<const uint8_t*>(b.data()), reinterpret_cast<const uint8_t*>(b.data()) + b.size()};
}

ir::Attribute ia(const std::string& name, int64_t v) { return ir::GraphBuilder::attr(name, v); }
ir::Attribute ias(const std::string& name, std::vector<int64_t> v) {
  return ir::GraphBuilder::attr(name, std::move(v));
}

// Runs one node whose inputs are initializers (nullopt = omitted); returns its outputs.
std::vector<Tensor> run_op(const std::string& op, int64_t opset, const std::vector<std::optional<Tensor>>& inputs,
                           std::vector<ir::Attribute> attrs = {}, size_t n_outputs = 1) {
  ir::Model model;
  model.ir_version = 10;
  model.opset_imports = {{"", opset}};
  model.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*model.graph);
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ins.push_back(inputs[i] ? b.initializer("in" + std::to_string(i), *inputs[i]) : nullptr);
  }
  for (ir::Value* v : b.op_n(op, ins, n_outputs, std::move(attrs))) b.output(v);
  kernels::ExecutorOptions options;
  options.threads = 2;
  kernels::Executor exec(model, options);
  std::vector<Tensor> out;
  for (auto& [name, t] : exec.run({})) out.push_back(t);
  return out;
}

Tensor run1(const std::string& op, int64_t opset, const std::vector<std::optional<Tensor>>& inputs,
            std::vector<ir::Attribute> attrs = {}) {
  return run_op(op, opset, inputs, std::move(attrs)).at(0);
}

std::mt19937& rng() {
  static std::mt19937 g(20240611);
  return g;
}
std::vector<float> random_floats(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng());
  return v;
}
template <typename T>
std::vector<T> random_ints(size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(d(rng()));
  return v;
}

// The reference quantization: nearbyint rounds half to even in the default rounding mode.
int64_t ref_quantize(float x, float scale, int64_t zp, int64_t lo, int64_t hi) {
  const double r = std::nearbyint(static_cast<double>(x / scale)) + static_cast<double>(zp);
  return static_cast<int64_t>(std::min<double>(std::max<double>(r, static_cast<double>(lo)), static_cast<double>(hi)));
}

}  // namespace

TEST_CASE("round_half_even: ties go to the even neighbour", "[quant]") {
  using kernels::round_half_even;
  CHECK(round_half_even(2.5) == 2.0);
  CHECK(round_half_even(3.5) == 4.0);
  CHECK(round_half_even(-2.5) == -2.0);
  CHECK(round_half_even(-3.5) == -4.0);
  CHECK(round_half_even(0.5) == 0.0);
  CHECK(round_half_even(1.5) == 2.0);
  CHECK(round_half_even(-0.5) == 0.0);
  CHECK(round_half_even(2.4999999) == 2.0);
  CHECK(round_half_even(2.5000001) == 3.0);
  CHECK(round_half_even(-7.6) == -8.0);
  CHECK(round_half_even(8388609.0f) == 8388609.0f);  // floats past 2^23 are integers already
  CHECK(round_half_even(1e300) == 1e300);
}

TEST_CASE("quantize_scaled saturates at both ends, NaN maps to the zero point", "[quant]") {
  using kernels::quantize_scaled;
  CHECK(quantize_scaled(126.5, 0, -128, 127) == 126);
  CHECK(quantize_scaled(127.5, 0, -128, 127) == 127);
  CHECK(quantize_scaled(1e9, 0, -128, 127) == 127);
  CHECK(quantize_scaled(-1e9, 0, -128, 127) == -128);
  CHECK(quantize_scaled(-128.5, 0, -128, 127) == -128);
  CHECK(quantize_scaled(INFINITY, 3, 0, 255) == 255);
  CHECK(quantize_scaled(-INFINITY, 3, 0, 255) == 0);
  CHECK(quantize_scaled(NAN, 3, 0, 255) == 3);
  CHECK(quantize_scaled(-0.5, 10, 0, 255) == 10);
  CHECK(quantize_scaled(7.5, -8, -8, 7) == 0);
}

TEST_CASE("4-bit packing: element 2k in the low nibble, round trip with odd counts", "[quant]") {
  using kernels::pack_4bit;
  using kernels::unpack_4bit;
  CHECK(pack_4bit(1, 2) == 0x21);
  CHECK(pack_4bit(-1, -8) == 0x8f);
  const std::vector<int> values = {-8, 7, 0, -1, 3, -5, 6};  // odd count: last byte's high nibble is 0
  std::vector<uint8_t> packed((values.size() + 1) / 2);
  for (size_t k = 0; k < values.size(); k += 2)
    packed[k / 2] = pack_4bit(values[k], k + 1 < values.size() ? values[k + 1] : 0);
  CHECK(packed == std::vector<uint8_t>{0x78, 0xf0, 0xb3, 0x06});
  for (size_t k = 0; k < values.size(); ++k)
    CHECK(unpack_4bit(packed.data(), static_cast<int64_t>(k), true) == values[k]);
  CHECK(unpack_4bit(packed.data(), 1, false) == 7);
  CHECK(unpack_4bit(packed.data(), 0, false) == 8);
}

TEST_CASE("float8 encodings match ONNX's conversion tables", "[quant]") {
  using kernels::Float8Kind;
  const Float8Kind kinds[4] = {Float8Kind::kE4M3FN, Float8Kind::kE4M3FNUZ, Float8Kind::kE5M2, Float8Kind::kE5M2FNUZ};
  struct Row {
    float x;
    uint8_t sat[4], nosat[4];
  };
  // From onnx.helper.float32_to_float8e4m3 / float32_to_float8e5m2 (onnx 1.17), except E5M2 without
  // saturation at 61440 and 61441: onnx's helper gives NaN (0x7f), the spec's table says +inf (0x7c).
  const std::vector<Row> table = {
      {0.0f, {0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x00, 0x00}},
      {-0.0f, {0x80, 0x00, 0x80, 0x00}, {0x80, 0x00, 0x80, 0x00}},
      {0.3f, {0x2a, 0x32, 0x35, 0x39}, {0x2a, 0x32, 0x35, 0x39}},
      {1.0625f, {0x38, 0x40, 0x3c, 0x40}, {0x38, 0x40, 0x3c, 0x40}},
      {1.125f, {0x39, 0x41, 0x3c, 0x40}, {0x39, 0x41, 0x3c, 0x40}},
      {1.1875f, {0x3a, 0x42, 0x3d, 0x41}, {0x3a, 0x42, 0x3d, 0x41}},
      {3.3f, {0x45, 0x4d, 0x43, 0x47}, {0x45, 0x4d, 0x43, 0x47}},
      {-17.5f, {0xd9, 0xe1, 0xcc, 0xd0}, {0xd9, 0xe1, 0xcc, 0xd0}},
      {241.0f, {0x77, 0x7f, 0x5c, 0x60}, {0x77, 0x7f, 0x5c, 0x60}},
      {250.0f, {0x78, 0x7f, 0x5c, 0x60}, {0x78, 0x80, 0x5c, 0x60}},
      {464.0f, {0x7e, 0x7f, 0x5f, 0x63}, {0x7e, 0x80, 0x5f, 0x63}},
      {465.0f, {0x7e, 0x7f, 0x5f, 0x63}, {0x7f, 0x80, 0x5f, 0x63}},
      {1e6f, {0x7e, 0x7f, 0x7b, 0x7f}, {0x7f, 0x80, 0x7c, 0x80}},
      {-1e6f, {0xfe, 0xff, 0xfb, 0xff}, {0xff, 0x80, 0xfc, 0x80}},
      {0.0009765625f, {0x00, 0x01, 0x14, 0x18}, {0x00, 0x01, 0x14, 0x18}},
      {0.00146484375f, {0x01, 0x02, 0x16, 0x1a}, {0x01, 0x02, 0x16, 0x1a}},
      {2.288818359375e-05f, {0x00, 0x00, 0x02, 0x03}, {0x00, 0x00, 0x02, 0x03}},
      {57344.0f, {0x7e, 0x7f, 0x7b, 0x7f}, {0x7f, 0x80, 0x7b, 0x7f}},
      {61440.0f, {0x7e, 0x7f, 0x7b, 0x7f}, {0x7f, 0x80, 0x7c, 0x80}},
      {61441.0f, {0x7e, 0x7f, 0x7b, 0x7f}, {0x7f, 0x80, 0x7c, 0x80}},
      {INFINITY, {0x7e, 0x7f, 0x7b, 0x7f}, {0x7f, 0x80, 0x7c, 0x80}},
      {-INFINITY, {0xfe, 0xff, 0xfb, 0xff}, {0xff, 0x80, 0xfc, 0x80}},
  };
  for (const Row& row : table) {
    for (int k = 0; k < 4; ++k) {
      INFO("x = " << row.x << " format " << k);
      CHECK(static_cast<int>(kernels::float_to_float8(row.x, kinds[k], true)) == row.sat[k]);
      CHECK(static_cast<int>(kernels::float_to_float8(row.x, kinds[k], false)) == row.nosat[k]);
    }
  }
  // Every finite code decodes and encodes back to itself.
  for (Float8Kind kind : kinds) {
    for (int code = 0; code < 256; ++code) {
      const float v = kernels::float8_to_float(static_cast<uint8_t>(code), kind);
      if (std::isnan(v) || std::isinf(v)) continue;
      if (v == 0.0f && code == 0x80) continue;  // -0 (E4M3FN, E5M2) round-trips as 0x80 below
      INFO("format " << static_cast<int>(kind) << " code " << code);
      CHECK(static_cast<int>(kernels::float_to_float8(v, kind, false)) == code);
    }
  }
  CHECK(kernels::float8_to_float(0x7e, Float8Kind::kE4M3FN) == 448.0f);
  CHECK(kernels::float8_to_float(0x7f, Float8Kind::kE4M3FNUZ) == 240.0f);
  CHECK(std::isnan(kernels::float8_to_float(0x80, Float8Kind::kE5M2FNUZ)));
  CHECK(std::isinf(kernels::float8_to_float(0xfc, Float8Kind::kE5M2)));
  CHECK(kernels::float8_to_float(0x01, Float8Kind::kE4M3FN) == 0.001953125f);
}

TEST_CASE("float16 and bfloat16 conversions round to nearest even", "[quant]") {
  using kernels::float_to_bfloat16;
  using kernels::float_to_half;
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(-2.0f) == 0xc000);
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(65519.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);
  CHECK(float_to_half(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);             // tie with 0 -> even
  CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);      // tie -> even
  CHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie -> even (up)
  CHECK(kernels::half_to_float(0x3555) == Approx(0.33325195f));
  CHECK(float_to_bfloat16(1.0f) == 0x3f80);
  CHECK(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);  // tie -> even
  CHECK(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
  for (float v : {0.1f, -3.75f, 1234.5f, 6e-5f}) CHECK(near(kernels::half_to_float(float_to_half(v)), v, 0, 1e-3));
}

TEST_CASE("QuantizeLinear: the ONNX spec example at every opset", "[quant]") {
  const Tensor x = make<float>({6}, {0, 2, 3, 1000, -254, -1000});
  for (int64_t opset : {10, 13, 19, 21}) {
    INFO("opset " << opset);
    Tensor y = run1("QuantizeLinear", opset, {x, make<float>({}, {2}), make<uint8_t>({}, {128})});
    CHECK(vals<uint8_t>(y) == std::vector<uint8_t>{128, 129, 130, 255, 1, 0});
  }
  // uint16 and int16 (opset 21), from the ONNX backend tests.
  const Tensor x16 = make<float>({12}, {0, -128, 3, -3, 2.9f, -2.9f, 3.1f, -3.1f, 65536, -65534, 70000, -70000});
  Tensor u16 = run1("QuantizeLinear", 21, {x16, make<float>({}, {2}), make<uint16_t>({}, {32767})});
  CHECK(vals<uint16_t>(u16) ==
        std::vector<uint16_t>{32767, 32703, 32769, 32765, 32768, 32766, 32769, 32765, 65535, 0, 65535, 0});
  Tensor i16 = run1("QuantizeLinear", 21, {x16, make<float>({}, {2}), make<int16_t>({}, {256})});
  CHECK(vals<int16_t>(i16) ==
        std::vector<int16_t>{256, 192, 258, 254, 257, 255, 258, 254, 32767, -32511, 32767, -32768});
}

TEST_CASE("QuantizeLinear: ties to even and saturation at both ends", "[quant]") {
  const Tensor x = make<float>({10}, {2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 1.5f, 1000, -1000, 126.5f});
  Tensor y = run1("QuantizeLinear", 13, {x, make<float>({}, {1}), make<int8_t>({}, {0})});
  CHECK(vals<int8_t>(y) == std::vector<int8_t>{2, 4, -2, -4, 0, 0, 2, 127, -128, 126});
  // No zero point: uint8 with zero point 0, so negatives saturate to 0.
  Tensor u = run1("QuantizeLinear", 13, {x, make<float>({}, {1}), std::nullopt});
  CHECK(vals<uint8_t>(u) == std::vector<uint8_t>{2, 4, 0, 0, 0, 0, 2, 255, 0, 126});
  // Zero point shifts before saturation; x/scale ties (5 / 2 = 2.5) round to even too.
  Tensor z =
      run1("QuantizeLinear", 13, {make<float>({4}, {5, 7, -5, 300}), make<float>({}, {2}), make<uint8_t>({}, {250})});
  CHECK(vals<uint8_t>(z) == std::vector<uint8_t>{252, 254, 248, 255});
  // output_dtype (opset 21) without a zero point; int32 input.
  Tensor o = run1("QuantizeLinear", 21, {make<float>({3}, {-9, 4.5f, 99}), make<float>({}, {1}), std::nullopt},
                  {ia("output_dtype", static_cast<int64_t>(DType::kInt4))});
  CHECK(o.dtype() == DType::kInt4);
  CHECK(bytes_of(o) == std::vector<uint8_t>{0x48, 0x07});  // -8, 4, 7
  Tensor i =
      run1("QuantizeLinear", 13, {make<int32_t>({3}, {5, -5, 1000}), make<float>({}, {2}), make<int8_t>({}, {1})});
  CHECK(vals<int8_t>(i) == std::vector<int8_t>{3, -1, 127});
  // float16 and bfloat16 inputs with scales of the same type (opset 19): 1/2 -> 0, 3/2 -> 2, 5/2 -> 2.
  Tensor h = run1("QuantizeLinear", 19,
                  {raw(DType::kFloat16, {3}, {0x00, 0x3c, 0x00, 0x42, 0x00, 0x45}),
                   raw(DType::kFloat16, {}, {0x00, 0x40}), make<int8_t>({}, {0})});
  CHECK(vals<int8_t>(h) == std::vector<int8_t>{0, 2, 2});
  Tensor bf = run1("QuantizeLinear", 19,
                   {raw(DType::kBFloat16, {2}, {0xa0, 0x40, 0x60, 0x40}), raw(DType::kBFloat16, {}, {0x00, 0x40}),
                    make<uint8_t>({}, {10})});
  CHECK(vals<uint8_t>(bf) == std::vector<uint8_t>{12, 12});  // 5/2 -> 2, 3.5/2 = 1.75 -> 2
}

TEST_CASE("QuantizeLinear and DequantizeLinear per axis match a naive loop", "[quant]") {
  const std::vector<int64_t> shape = {2, 3, 4, 5};
  const int64_t strides[4] = {60, 20, 5, 1};
  for (int64_t axis : {0, 1, 2, 3, -1, -3}) {
    INFO("axis " << axis);
    const int64_t a = axis < 0 ? axis + 4 : axis;
    const auto d = static_cast<size_t>(shape[static_cast<size_t>(a)]);
    const auto x = random_floats(120, -40, 40);
    const auto scales = random_floats(d, 0.05f, 0.5f);
    const auto zps = random_ints<int8_t>(d, -20, 20);
    Tensor q = run1("QuantizeLinear", 13,
                    {make<float>(shape, x), make<float>({static_cast<int64_t>(d)}, scales),
                     make<int8_t>({static_cast<int64_t>(d)}, zps)},
                    {ia("axis", axis)});
    Tensor y = run1("DequantizeLinear", 13,
                    {q, make<float>({static_cast<int64_t>(d)}, scales), make<int8_t>({static_cast<int64_t>(d)}, zps)},
                    {ia("axis", axis)});
    const auto qv = vals<int8_t>(q);
    const auto yv = vals<float>(y);
    for (int64_t i = 0; i < 120; ++i) {
      const auto c = static_cast<size_t>(i / strides[a] % shape[static_cast<size_t>(a)]);
      const int64_t want = ref_quantize(x[static_cast<size_t>(i)], scales[c], zps[c], -128, 127);
      REQUIRE(qv[static_cast<size_t>(i)] == want);
      REQUIRE(yv[static_cast<size_t>(i)] == static_cast<float>(want - zps[c]) * scales[c]);
    }
  }
}

TEST_CASE("QuantizeLinear and DequantizeLinear blocked (opset 21) match a naive loop", "[quant]") {
  struct Case {
    std::vector<int64_t> shape;
    int64_t axis, block;
    DType type;
  };
  const std::vector<Case> cases = {
      {{4, 7}, 1, 3, DType::kInt8},     {{4, 7}, -1, 2, DType::kInt4},    {{5, 3}, 0, 2, DType::kUInt4},
      {{2, 6, 3}, 1, 4, DType::kUInt8}, {{3, 5, 3}, -2, 5, DType::kInt4}, {{9}, 0, 4, DType::kUInt16},
  };
  for (const Case& c : cases) {
    const auto rank = static_cast<int64_t>(c.shape.size());
    const int64_t a = c.axis < 0 ? c.axis + rank : c.axis;
    std::vector<int64_t> sshape = c.shape;
    sshape[static_cast<size_t>(a)] = (c.shape[static_cast<size_t>(a)] + c.block - 1) / c.block;
    int64_t n = 1, sn = 1, inner = 1;
    for (int64_t j = 0; j < rank; ++j) n *= c.shape[static_cast<size_t>(j)], sn *= sshape[static_cast<size_t>(j)];
    for (int64_t j = a + 1; j < rank; ++j) inner *= c.shape[static_cast<size_t>(j)];
    INFO("shape " << ir::shape_to_string(c.shape) << " axis " << c.axis << " block " << c.block);
    const auto x = random_floats(static_cast<size_t>(n), -30, 30);
    const auto scales = random_floats(static_cast<size_t>(sn), 0.5f, 4.0f);
    int64_t lo = 0, hi = 0;
    Tensor zp;
    std::vector<int64_t> zps(static_cast<size_t>(sn));
    if (c.type == DType::kInt4 || c.type == DType::kUInt4) {
      lo = c.type == DType::kInt4 ? -8 : 0, hi = c.type == DType::kInt4 ? 7 : 15;
      std::vector<uint8_t> packed(static_cast<size_t>((sn + 1) / 2), 0);
      for (int64_t k = 0; k < sn; ++k) {
        zps[static_cast<size_t>(k)] = k % 3 - (c.type == DType::kInt4 ? 1 : -1);
        packed[static_cast<size_t>(k / 2)] |=
            static_cast<uint8_t>((zps[static_cast<size_t>(k)] & 0xf) << (4 * (k % 2)));
      }
      zp = raw(c.type, sshape, packed);
    } else if (c.type == DType::kInt8) {
      lo = -128, hi = 127;
      auto z = random_ints<int8_t>(static_cast<size_t>(sn), -5, 5);
      std::copy(z.begin(), z.end(), zps.begin());
      zp = make<int8_t>(sshape, z);
    } else if (c.type == DType::kUInt8) {
      lo = 0, hi = 255;
      auto z = random_ints<uint8_t>(static_cast<size_t>(sn), 0, 10);
      std::copy(z.begin(), z.end(), zps.begin());
      zp = make<uint8_t>(sshape, z);
    } else {
      lo = 0, hi = 65535;
      auto z = random_ints<uint16_t>(static_cast<size_t>(sn), 0, 10);
      std::copy(z.begin(), z.end(), zps.begin());
      zp = make<uint16_t>(sshape, z);
    }
    const std::vector<ir::Attribute> attrs = {ia("axis", c.axis), ia("block_size", c.block)};
    Tensor q = run1("QuantizeLinear", 21, {make<float>(c.shape, x), make<float>(sshape, scales), zp}, attrs);
    Tensor y = run1("DequantizeLinear", 21, {q, make<float>(sshape, scales), zp}, attrs);
    REQUIRE(q.dtype() == c.type);
    const auto yv = vals<float>(y);
    const int64_t dim = c.shape[static_cast<size_t>(a)], sdim = sshape[static_cast<size_t>(a)];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t o = i / (dim * inner), d = i / inner % dim, in = i % inner;
      const auto s = static_cast<size_t>((o * sdim + d / c.block) * inner + in);
      const int64_t want = ref_quantize(x[static_cast<size_t>(i)], scales[s], zps[s], lo, hi);
      REQUIRE(q.element_as_double(i) == static_cast<double>(want));
      REQUIRE(yv[static_cast<size_t>(i)] == static_cast<float>(want - zps[s]) * scales[s]);
    }
  }
}

TEST_CASE("QuantizeLinear int4/uint4 packs odd element counts; DequantizeLinear unpacks them", "[quant]") {
  const Tensor x = make<float>({5}, {-9.f, -2.5f, 3.5f, 7.4f, 1.f});
  Tensor q = run1("QuantizeLinear", 21, {x, make<float>({}, {1}), raw(DType::kInt4, {}, {0x00})});
  CHECK(q.shape() == std::vector<int64_t>{5});
  CHECK(bytes_of(q) == std::vector<uint8_t>{0xe8, 0x74, 0x01});  // -8 -2 | 4 7 | 1 (high nibble 0)
  Tensor u = run1("QuantizeLinear", 21, {x, make<float>({}, {1}), raw(DType::kUInt4, {}, {0x03})});
  CHECK(bytes_of(u) == std::vector<uint8_t>{0x10, 0xa7, 0x04});  // 0 1 | 7 10 | 4
  Tensor y = run1("DequantizeLinear", 21, {q, make<float>({}, {0.5f}), raw(DType::kInt4, {}, {0x01})});
  CHECK(vals<float>(y) == std::vector<float>{-4.5f, -1.5f, 1.5f, 3.0f, 0.0f});
}

TEST_CASE("DequantizeLinear: spec example, int32, float16 scale and float8 input", "[quant]") {
  const Tensor x = make<uint8_t>({4}, {0, 3, 128, 255});
  for (int64_t opset : {10, 13, 19, 21}) {
    Tensor y = run1("DequantizeLinear", opset, {x, make<float>({}, {2}), make<uint8_t>({}, {128})});
    CHECK(vals<float>(y) == std::vector<float>{-256, -250, 0, 254});
  }
  Tensor i32 = run1("DequantizeLinear", 10, {make<int32_t>({2}, {-70000, 12}), make<float>({}, {0.5f})});
  CHECK(vals<float>(i32) == std::vector<float>{-35000, 6});
  // float16 scale 0.5 (0x3800): the output is float16.
  Tensor h = run1("DequantizeLinear", 19, {make<int8_t>({3}, {-3, 0, 7}), raw(DType::kFloat16, {}, {0x00, 0x38})});
  REQUIRE(h.dtype() == DType::kFloat16);
  CHECK(h.element_as_double(0) == -1.5);
  CHECK(h.element_as_double(2) == 3.5);
  Tensor b16 = run1("DequantizeLinear", 21, {make<int8_t>({2}, {3, -1}), raw(DType::kBFloat16, {}, {0x00, 0x3f})});
  REQUIRE(b16.dtype() == DType::kBFloat16);
  CHECK(bytes_of(b16) == std::vector<uint8_t>{0xc0, 0x3f, 0x00, 0xbf});  // 1.5, -0.5
  // float8 E4M3FN codes 0x38 = 1, 0xd9 = -18, 0x7e = 448; float8 zero point 0.
  Tensor f8 = run1("DequantizeLinear", 19,
                   {raw(DType::kFloat8E4M3FN, {3}, {0x38, 0xd9, 0x7e}), make<float>({}, {2}),
                    raw(DType::kFloat8E4M3FN, {}, {0x00})});
  CHECK(vals<float>(f8) == std::vector<float>{2, -36, 896});
}

TEST_CASE("QuantizeLinear float8: spec examples and saturate=0", "[quant]") {
  const Tensor x = make<float>({5}, {0, 1, 2, 100000, 200});
  Tensor e4 = run1("QuantizeLinear", 19, {x, make<float>({}, {2}), raw(DType::kFloat8E4M3FN, {1}, {0})});
  CHECK(bytes_of(e4) == std::vector<uint8_t>{0x00, 0x30, 0x38, 0x7e, 0x6c});  // 0 0.5 1 448 96
  Tensor e5 = run1("QuantizeLinear", 19, {x, make<float>({}, {2}), raw(DType::kFloat8E5M2, {1}, {0})});
  CHECK(bytes_of(e5) == std::vector<uint8_t>{0x00, 0x38, 0x3c, 0x7a, 0x56});  // 0 0.5 1 49152 96
  Tensor ns =
      run1("QuantizeLinear", 19, {x, make<float>({}, {2}), raw(DType::kFloat8E4M3FN, {1}, {0})}, {ia("saturate", 0)});
  CHECK(bytes_of(ns)[3] == 0x7f);  // NaN
}

TEST_CASE("DynamicQuantizeLinear: the three ONNX examples", "[quant]") {
  struct Case {
    std::vector<float> x;
    uint32_t scale_bits;
    uint8_t zp;
    std::vector<uint8_t> y;
  };
  const std::vector<Case> cases = {
      {{0, 2, -3, -2.5f, 1.34f, 0.5f}, 1017159841u, 153, {153, 255, 0, 26, 221, 179}},
      {{-1.0f, -2.1f, -1.3f, -2.5f, -3.34f, -4.0f}, 1015054465u, 255, {191, 121, 172, 96, 42, 0}},
      {{1, 2.1f, 1.3f, 2.5f, 3.34f, 4.0f, 1.5f, 2.6f, 3.9f, 4.0f, 3.0f, 2.345f},
       1015054465u,
       0,
       {64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149}},
  };
  for (const Case& c : cases) {
    auto out = run_op("DynamicQuantizeLinear", 11, {make<float>({static_cast<int64_t>(c.x.size())}, c.x)}, {}, 3);
    CHECK(vals<uint8_t>(out[0]) == c.y);
    float scale = vals<float>(out[1]).at(0);
    uint32_t bits;
    std::memcpy(&bits, &scale, 4);
    CHECK(bits == c.scale_bits);
    CHECK(out[1].shape().empty());
    CHECK(vals<uint8_t>(out[2]) == std::vector<uint8_t>{c.zp});
  }
}

namespace {

// Naive batched integer matmul: a [B, M, K] - a_zp[b, m], b [B, K, N] - b_zp[b, n].
std::vector<int32_t> naive_matmul(const std::vector<int32_t>& a, const std::vector<int32_t>& azp,
                                  const std::vector<int32_t>& b, const std::vector<int32_t>& bzp, int64_t batches,
                                  int64_t m, int64_t k, int64_t n) {
  std::vector<int32_t> c(static_cast<size_t>(batches * m * n), 0);
  for (int64_t t = 0; t < batches; ++t)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int32_t acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          acc += (a[static_cast<size_t>((t * m + i) * k + p)] - azp[static_cast<size_t>(t * m + i)]) *
                 (b[static_cast<size_t>((t * k + p) * n + j)] - bzp[static_cast<size_t>(t * n + j)]);
        }
        c[static_cast<size_t>((t * m + i) * n + j)] = acc;
      }
  return c;
}

template <typename T>
std::vector<int32_t> widen(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("MatMulInteger: spec example, per-row/per-column zero points, broadcasting", "[quant]") {
  const Tensor a = make<uint8_t>({4, 3}, {11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0});
  const Tensor b = make<uint8_t>({3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor y = run1("MatMulInteger", 10, {a, b, make<uint8_t>({1}, {12}), make<uint8_t>({1}, {0})});
  CHECK(y.shape() == std::vector<int64_t>{4, 2});
  CHECK(vals<int32_t>(y) == std::vector<int32_t>{-38, -83, -44, -98, -50, -113, -56, -128});

  // int8 A with per-row zero points [M], uint8 B with per-column zero points [N].
  const int64_t m = 5, k = 7, n = 4;
  auto av = random_ints<int8_t>(m * k, -128, 127);
  auto bv = random_ints<uint8_t>(k * n, 0, 255);
  auto azp = random_ints<int8_t>(m, -10, 10);
  auto bzp = random_ints<uint8_t>(n, 100, 150);
  Tensor pr =
      run1("MatMulInteger", 10,
           {make<int8_t>({m, k}, av), make<uint8_t>({k, n}, bv), make<int8_t>({m}, azp), make<uint8_t>({n}, bzp)});
  CHECK(vals<int32_t>(pr) == naive_matmul(widen(av), widen(azp), widen(bv), widen(bzp), 1, m, k, n));

  // A [2, 1, 3, 4] x B [3, 4, 2] -> [2, 3, 3, 2]; a zero point [2, 1, 3, 1] per row of each batch.
  auto a4 = random_ints<uint8_t>(2 * 3 * 4, 0, 255);
  auto b3 = random_ints<uint8_t>(3 * 4 * 2, 0, 255);
  auto zp4 = random_ints<uint8_t>(6, 0, 255);
  Tensor bc = run1(
      "MatMulInteger", 10,
      {make<uint8_t>({2, 1, 3, 4}, a4), make<uint8_t>({3, 4, 2}, b3), make<uint8_t>({2, 1, 3, 1}, zp4), std::nullopt});
  REQUIRE(bc.shape() == std::vector<int64_t>{2, 3, 3, 2});
  std::vector<int32_t> ab, azb, bb, bzb(3 * 2 * 2 * 2, 0);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      ab.insert(ab.end(), a4.begin() + i * 12, a4.begin() + (i + 1) * 12);
      azb.insert(azb.end(), zp4.begin() + i * 3, zp4.begin() + (i + 1) * 3);
      bb.insert(bb.end(), b3.begin() + j * 8, b3.begin() + (j + 1) * 8);
    }
  CHECK(vals<int32_t>(bc) == naive_matmul(ab, azb, bb, bzb, 6, 3, 4, 2));

  // 1-D operands: [K] x [K, N] -> [N] and [M, K] x [K] -> [M].
  Tensor v1 = run1("MatMulInteger", 10, {make<uint8_t>({3}, {1, 2, 3}), b, std::nullopt, std::nullopt});
  CHECK(v1.shape() == std::vector<int64_t>{2});
  CHECK(vals<int32_t>(v1) == std::vector<int32_t>{14, 32});
  Tensor v2 = run1("MatMulInteger", 10, {a, make<uint8_t>({3}, {1, 0, 2}), std::nullopt, std::nullopt});
  CHECK(vals<int32_t>(v2) == std::vector<int32_t>{17, 14, 11, 8});
}

TEST_CASE("QLinearMatMul: spec example and per-row/per-column scales against a naive loop", "[quant]") {
  const Tensor a = make<uint8_t>({2, 4}, {208, 236, 0, 238, 3, 214, 255, 29});
  const Tensor b = make<uint8_t>({4, 3}, {152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247});
  for (int64_t opset : {10, 21}) {
    Tensor y = run1("QLinearMatMul", opset,
                    {a, make<float>({1}, {0.0066f}), make<uint8_t>({1}, {113}), b, make<float>({1}, {0.00705f}),
                     make<uint8_t>({1}, {114}), make<float>({1}, {0.0107f}), make<uint8_t>({1}, {118})});
    CHECK(vals<uint8_t>(y) == std::vector<uint8_t>{168, 115, 255, 1, 66, 151});
  }
  const int64_t m = 3, k = 6, n = 5;
  auto av = random_ints<int8_t>(m * k, -128, 127);
  auto bv = random_ints<int8_t>(k * n, -128, 127);
  auto as = random_floats(m, 0.01f, 0.05f);
  auto bs = random_floats(n, 0.01f, 0.05f);
  auto azp = random_ints<int8_t>(m, -5, 5);
  auto bzp = random_ints<int8_t>(n, -5, 5);
  const float ys = 0.05f;
  const int8_t yzp = -3;
  Tensor y = run1("QLinearMatMul", 10,
                  {make<int8_t>({m, k}, av), make<float>({m}, as), make<int8_t>({m}, azp), make<int8_t>({k, n}, bv),
                   make<float>({n}, bs), make<int8_t>({n}, bzp), make<float>({}, {ys}), make<int8_t>({}, {yzp})});
  const auto acc = naive_matmul(widen(av), widen(azp), widen(bv), widen(bzp), 1, m, k, n);
  const auto yv = vals<int8_t>(y);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float mult = as[static_cast<size_t>(i)] * bs[static_cast<size_t>(j)] / ys;
      const double r = std::nearbyint(static_cast<double>(acc[static_cast<size_t>(i * n + j)]) * mult) + yzp;
      CHECK(yv[static_cast<size_t>(i * n + j)] == static_cast<int8_t>(std::clamp(r, -128.0, 127.0)));
    }
}

TEST_CASE("ConvInteger and QLinearConv: the ONNX spec examples", "[quant]") {
  const Tensor x = make<uint8_t>({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10});
  const Tensor w = make<uint8_t>({1, 1, 2, 2}, {1, 1, 1, 1});
  Tensor y = run1("ConvInteger", 10, {x, w, make<uint8_t>({}, {1})});
  CHECK(y.shape() == std::vector<int64_t>{1, 1, 2, 2});
  CHECK(vals<int32_t>(y) == std::vector<int32_t>{12, 16, 24, 28});
  Tensor p = run1("ConvInteger", 10, {x, w, make<uint8_t>({}, {1})}, {ias("pads", {1, 1, 1, 1})});
  CHECK(vals<int32_t>(p) == std::vector<int32_t>{1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9});

  const Tensor qx =
      make<uint8_t>({1, 1, 7, 7}, {255, 174, 162, 25,  203, 168, 58,  15,  59,  237, 95,  129, 0,  64,  56, 242, 153,
                                   221, 168, 12,  166, 232, 178, 186, 195, 237, 162, 237, 188, 39, 124, 77, 80,  102,
                                   43,  127, 230, 21,  83,  41,  40,  134, 255, 154, 92,  141, 42, 148, 247});
  Tensor q = run1("QLinearConv", 10,
                  {qx, make<float>({}, {0.00369204697f}), make<uint8_t>({}, {132}), make<uint8_t>({1, 1, 1, 1}, {0}),
                   make<float>({1}, {0.00172794575f}), make<uint8_t>({1}, {255}), make<float>({}, {0.00162681262f}),
                   make<uint8_t>({}, {123})});
  CHECK(vals<uint8_t>(q) == std::vector<uint8_t>{0,   81,  93,  230, 52,  87,  197, 240, 196, 18,  160, 126, 255,
                                                 191, 199, 13,  102, 34,  87,  243, 89,  23,  77,  69,  60,  18,
                                                 93,  18,  67,  216, 131, 178, 175, 153, 212, 128, 25,  234, 172,
                                                 214, 215, 121, 0,   101, 163, 114, 213, 107, 8});
}

namespace {

struct ConvCase {
  std::vector<int64_t> x_shape, w_shape, strides, dilations, pads;
  int64_t group;
  std::string auto_pad;
};

// Naive N-D integer convolution, output [N, M, out...]; pads resolved here from auto_pad.
std::vector<int32_t> naive_conv(const ConvCase& c, const std::vector<int32_t>& x, const std::vector<int32_t>& w,
                                std::vector<int64_t>& out_shape) {
  const size_t r = c.x_shape.size() - 2;
  std::vector<int64_t> pb(r), out(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = c.x_shape[d + 2], k = c.w_shape[d + 2], s = c.strides[d], dl = c.dilations[d];
    const int64_t span = (k - 1) * dl + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[d] = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out[d] - 1) * s + span - in);
      pb[d] = c.auto_pad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
    } else if (c.auto_pad == "VALID") {
      out[d] = (in - span) / s + 1;
      pb[d] = 0;
    } else {
      out[d] = (in + c.pads[d] + c.pads[d + r] - span) / s + 1;
      pb[d] = c.pads[d];
    }
  }
  const int64_t n = c.x_shape[0], ch = c.x_shape[1], m = c.w_shape[0], cg = ch / c.group, mg = m / c.group;
  int64_t p = 1, kk = 1, s_in = 1;
  for (size_t d = 0; d < r; ++d) p *= out[d], kk *= c.w_shape[d + 2], s_in *= c.x_shape[d + 2];
  out_shape = {n, m};
  out_shape.insert(out_shape.end(), out.begin(), out.end());
  std::vector<int32_t> y(static_cast<size_t>(n * m * p), 0);
  std::vector<int64_t> oc(r), kc(r);
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t mi = 0; mi < m; ++mi)
      for (int64_t pi = 0; pi < p; ++pi) {
        for (int64_t d = static_cast<int64_t>(r) - 1, rem = pi; d >= 0; --d)
          oc[static_cast<size_t>(d)] = rem % out[static_cast<size_t>(d)], rem /= out[static_cast<size_t>(d)];
        int32_t acc = 0;
        for (int64_t ci = 0; ci < cg; ++ci)
          for (int64_t ki = 0; ki < kk; ++ki) {
            for (int64_t d = static_cast<int64_t>(r) - 1, rem = ki; d >= 0; --d)
              kc[static_cast<size_t>(d)] = rem % c.w_shape[static_cast<size_t>(d) + 2],
              rem /= c.w_shape[static_cast<size_t>(d) + 2];
            int64_t flat = 0;
            bool inside = true;
            for (size_t d = 0; d < r; ++d) {
              const int64_t id = oc[d] * c.strides[d] - pb[d] + kc[d] * c.dilations[d];
              inside = inside && id >= 0 && id < c.x_shape[d + 2];
              flat = flat * c.x_shape[d + 2] + id;
            }
            if (!inside) continue;
            const int64_t xc = mi / mg * cg + ci;
            acc +=
                x[static_cast<size_t>((ni * ch + xc) * s_in + flat)] * w[static_cast<size_t>((mi * cg + ci) * kk + ki)];
          }
        y[static_cast<size_t>((ni * m + mi) * p + pi)] = acc;
      }
  return y;
}

}  // namespace

TEST_CASE("ConvInteger and QLinearConv match a naive convolution: groups, strides, pads, dilations, auto_pad",
          "[quant]") {
  const std::vector<ConvCase> cases = {
      {{1, 2, 7}, {4, 2, 3}, {2}, {1}, {1, 2}, 1, "NOTSET"},
      {{2, 4, 6, 5}, {6, 2, 3, 2}, {1, 2}, {2, 1}, {1, 0, 2, 1}, 2, "NOTSET"},
      {{1, 3, 5, 5}, {3, 1, 3, 3}, {2, 2}, {1, 1}, {}, 3, "SAME_UPPER"},
      {{1, 2, 6, 7}, {4, 2, 2, 3}, {3, 2}, {2, 2}, {}, 1, "SAME_LOWER"},
      {{1, 2, 8, 6}, {2, 2, 3, 3}, {2, 1}, {1, 2}, {}, 1, "VALID"},
      {{1, 4, 4, 5, 3}, {4, 2, 2, 3, 2}, {1, 2, 1}, {1, 1, 2}, {0, 1, 1, 1, 0, 1}, 2, "NOTSET"},
      {{3, 8, 20, 20}, {8, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 8, "NOTSET"},      // depthwise
      {{1, 1024, 5, 5}, {3, 1024, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, "NOTSET"},  // 2 blocks of 16 positions
  };
  for (const ConvCase& c : cases) {
    INFO("x " << ir::shape_to_string(c.x_shape) << " w " << ir::shape_to_string(c.w_shape) << " group " << c.group
              << " " << c.auto_pad);
    int64_t nx = 1, nw = 1;
    for (int64_t d : c.x_shape) nx *= d;
    for (int64_t d : c.w_shape) nw *= d;
    const int64_t m = c.w_shape[0];
    auto xv = random_ints<uint8_t>(static_cast<size_t>(nx), 0, 255);
    auto wv = random_ints<int8_t>(static_cast<size_t>(nw), -128, 127);
    auto wzp = random_ints<int8_t>(static_cast<size_t>(m), -3, 3);
    const uint8_t xzp = 117;
    std::vector<ir::Attribute> attrs = {ia("group", c.group), ias("strides", c.strides), ias("dilations", c.dilations),
                                        ir::GraphBuilder::attr("auto_pad", c.auto_pad)};
    if (!c.pads.empty()) attrs.push_back(ias("pads", c.pads));
    std::vector<int32_t> xc(xv.begin(), xv.end()), wc(wv.begin(), wv.end());
    for (int32_t& v : xc) v -= xzp;
    const int64_t per_m = nw / m;
    for (int64_t i = 0; i < nw; ++i) wc[static_cast<size_t>(i)] -= wzp[static_cast<size_t>(i / per_m)];
    std::vector<int64_t> out_shape;
    const auto ref = naive_conv(c, xc, wc, out_shape);

    Tensor y = run1(
        "ConvInteger", 10,
        {make<uint8_t>(c.x_shape, xv), make<int8_t>(c.w_shape, wv), make<uint8_t>({}, {xzp}), make<int8_t>({m}, wzp)},
        attrs);
    REQUIRE(y.shape() == out_shape);
    CHECK(vals<int32_t>(y) == ref);

    // QLinearConv with per-channel weight scales and an int32 bias.
    auto ws = random_floats(static_cast<size_t>(m), 0.002f, 0.02f);
    auto bias = random_ints<int32_t>(static_cast<size_t>(m), -500, 500);
    const float xs = 0.02f, ys = 0.7f;
    const uint8_t yzp = 128;
    Tensor q = run1("QLinearConv", 10,
                    {make<uint8_t>(c.x_shape, xv), make<float>({}, {xs}), make<uint8_t>({}, {xzp}),
                     make<int8_t>(c.w_shape, wv), make<float>({m}, ws), make<int8_t>({m}, wzp), make<float>({}, {ys}),
                     make<uint8_t>({}, {yzp}), make<int32_t>({m}, bias)},
                    attrs);
    REQUIRE(q.shape() == out_shape);
    const auto qv = vals<uint8_t>(q);
    const int64_t p = static_cast<int64_t>(ref.size()) / (out_shape[0] * m);
    for (size_t i = 0; i < ref.size(); ++i) {
      const auto ch = static_cast<size_t>(static_cast<int64_t>(i) / p % m);
      const float mult = xs * ws[ch] / ys;
      const double r = std::nearbyint(static_cast<double>(ref[i] + bias[ch]) * mult) + yzp;
      REQUIRE(static_cast<int>(qv[i]) == static_cast<int>(std::clamp(r, 0.0, 255.0)));
    }
  }
}

TEST_CASE("Quantization ops reject bad input with errors naming the node", "[quant]") {
  auto bad = [](const std::string& op, int64_t opset, const std::vector<std::optional<Tensor>>& inputs,
                std::vector<ir::Attribute> attrs, const std::string& text) {
    INFO(op << " expecting '" << text << "'");
    try {
      const size_t outputs = op == "DynamicQuantizeLinear" ? 3 : 1;  // the schema's required outputs
      run_op(op, opset, inputs, std::move(attrs), outputs);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kBadInput);
      const std::string msg = e.what();
      INFO("message: " << msg);
      CHECK(msg.rfind("[" + op + " node", 0) == 0);
      CHECK(msg.find(text) != std::string::npos);
    }
  };
  const Tensor x = make<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  bad("QuantizeLinear", 13, {x, make<float>({3}, {1, 1, 1}), make<uint8_t>({3}, {0, 0, 0})}, {ia("axis", 2)},
      "axis 2 is out of range");
  bad("QuantizeLinear", 13, {x, make<float>({2}, {1, 1}), make<uint8_t>({2}, {0, 0})}, {ia("axis", 1)},
      "per-axis scale has 2 elements");
  bad("QuantizeLinear", 10, {x, make<float>({3}, {1, 1, 1}), std::nullopt}, {}, "scale must be a scalar");
  bad("QuantizeLinear", 13, {x, make<float>({3}, {1, 1, 1}), make<uint8_t>({2}, {0, 0})}, {}, "zero point shape");
  bad("QuantizeLinear", 21, {x, make<float>({2, 1}, {1, 1}), std::nullopt}, {ia("axis", 1), ia("block_size", 2)},
      "does not fit input");
  bad("QuantizeLinear", 21, {x, make<float>({2, 2}, {1, 1, 1, 1}), std::nullopt}, {ia("axis", 1), ia("block_size", -1)},
      "'block_size' is -1; it must be >= 0");
  bad("QuantizeLinear", 13, {x, make<float>({}, {1}), make<int16_t>({}, {0})}, {},
      "does not support output type int16");
  bad("QuantizeLinear", 21, {x, make<float>({}, {1}), make<int8_t>({}, {0})},
      {ia("output_dtype", static_cast<int64_t>(DType::kUInt8))}, "output_dtype");
  bad("DequantizeLinear", 19,
      {raw(DType::kFloat8E4M3FN, {1}, {0x38}), make<float>({}, {1}), raw(DType::kFloat8E4M3FN, {}, {0x38})}, {},
      "float8 zero point must be 0");
  bad("DequantizeLinear", 13, {make<int8_t>({2}, {1, 2}), make<float>({}, {1}), make<uint8_t>({}, {0})}, {},
      "zero point type uint8");
  bad("DequantizeLinear", 13, {make<int8_t>({2}, {1, 2}), make<double>({}, {1})}, {}, "scale type double");
  bad("DynamicQuantizeLinear", 11, {make<double>({1}, {1})}, {}, "element type double");
  bad("MatMulInteger", 10, {make<uint8_t>({2, 3}, {1, 2, 3, 4, 5, 6}), make<uint8_t>({2, 2}, {1, 2, 3, 4})}, {},
      "cannot be multiplied");
  bad("MatMulInteger", 10,
      {make<uint8_t>({2, 2}, {1, 2, 3, 4}), make<uint8_t>({2, 2}, {1, 2, 3, 4}), make<uint8_t>({3}, {0, 0, 0})}, {},
      "a_zero_point has shape [3]");
  bad("MatMulInteger", 10, {make<float>({1, 1}, {1}), make<uint8_t>({1, 1}, {1})}, {}, "must be int8 or uint8");
  const Tensor cx = make<uint8_t>({1, 2, 3, 3}, std::vector<uint8_t>(18, 1));
  bad("ConvInteger", 10, {cx, make<uint8_t>({2, 2, 2, 2}, std::vector<uint8_t>(16, 1))}, {ia("group", 2)},
      "with group 2 expects 4");
  bad("ConvInteger", 10, {cx, make<uint8_t>({1, 2, 4, 4}, std::vector<uint8_t>(32, 1))}, {},
      "larger than the padded input");
  bad("ConvInteger", 10, {cx, make<uint8_t>({1, 2, 2, 2}, std::vector<uint8_t>(8, 1))}, {ias("strides", {1})},
      "strides has 1 values");
  bad("ConvInteger", 10, {cx, make<uint8_t>({1, 2, 2, 2}, std::vector<uint8_t>(8, 1))},
      {ir::GraphBuilder::attr("auto_pad", std::string("SAME"))}, "'auto_pad' is 'SAME'; it must be one of");
  bad("QLinearConv", 10,
      {cx, make<float>({}, {1}), make<uint8_t>({}, {0}), make<uint8_t>({3, 2, 2, 2}, std::vector<uint8_t>(24, 1)),
       make<float>({2}, {1, 1}), make<uint8_t>({}, {0}), make<float>({}, {1}), make<uint8_t>({}, {0})},
      {}, "w_scale must be a scalar or have 3 elements");
  bad("QLinearConv", 10,
      {cx, make<float>({}, {1}), make<uint8_t>({}, {0}), make<uint8_t>({1, 2, 2, 2}, std::vector<uint8_t>(8, 1)),
       make<float>({}, {1}), make<uint8_t>({}, {0}), make<float>({}, {1}), make<uint8_t>({}, {0}),
       make<float>({1}, {1})},
      {}, "bias must be int32");
}
