// Activation family (kernels/ops/activation_ops.cpp): every pointwise op against a naive double
// formula, integer and 16-bit paths, PRelu broadcasting, Clip across opsets, IsNaN/IsInf, Cast and
// CastLike (float8, int4, float16, bfloat16, strings), errors, and thread-count determinism.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "kernels/common/quantize_math.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/exec/executor.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::DType;
using ir::GraphBuilder;
using ir::Tensor;

namespace {

// Runs one `op` node at `opset` on `inputs` (nullopt: an omitted optional input); returns output 0.
Tensor run_node(const std::string& op, int64_t opset, const std::vector<std::optional<Tensor>>& inputs,
                std::vector<ir::Attribute> attrs = {}, int threads = 1) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", opset}};
  m.graph = std::make_unique<ir::Graph>("main");
  GraphBuilder b(*m.graph);
  std::vector<ir::Value*> ins;
  kernels::NamedTensors feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      ins.push_back(nullptr);
      continue;
    }
    std::string name = "in" + std::to_string(i);
    ins.push_back(b.input(name, inputs[i]->dtype(), inputs[i]->shape()));
    feeds.emplace_back(name, *inputs[i]);
  }
  b.output(b.op(op, ins, std::move(attrs)));
  kernels::ExecutorOptions options;
  options.threads = threads;
  kernels::Executor exec(m, options);
  return exec.run(feeds).at(0).second;
}

Tensor random_floats(std::vector<int64_t> shape, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DType::kFloat, std::move(shape));
  for (float& v : t.mutable_values<float>()) v = dist(rng);
  return t;
}

template <typename T>
Tensor make(DType dtype, std::vector<int64_t> shape, std::vector<T> values) {
  Tensor t(dtype, std::move(shape));
  REQUIRE(t.storage_bytes() == values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.mutable_bytes().data(), values.data(), values.size() * sizeof(T));
  return t;
}

Tensor to_double(const Tensor& f) {
  Tensor d(DType::kDouble, f.shape());
  for (int64_t i = 0; i < f.numel(); ++i) d.mutable_values<double>()[i] = f.values<float>()[i];
  return d;
}

// Every element of `got` within (atol, rtol) of ref(x[i]) computed in double.
void check_map(const Tensor& got, const Tensor& x, const std::function<double(double)>& ref, double atol, double rtol) {
  REQUIRE(got.shape() == x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    double want = ref(x.element_as_double(i));
    double have = got.element_as_double(i);
    if (std::isnan(want)) {
      CHECK(std::isnan(have));
    } else if (!test::near(have, want, atol, rtol)) {
      FAIL_CHECK("element " << i << " of x=" << x.element_as_double(i) << ": got " << have << ", want " << want);
    }
  }
}

ir::Attribute fattr(const std::string& name, float v) { return GraphBuilder::attr(name, v); }
ir::Attribute iattr(const std::string& name, int64_t v) { return GraphBuilder::attr(name, v); }
ir::Attribute sattr(const std::string& name, const std::string& v) { return GraphBuilder::attr(name, v); }

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double softplus_ref(double x) { return std::log(std::exp(x) + 1.0); }

struct PointwiseCase {
  const char* op;
  int64_t opset;
  std::vector<ir::Attribute> attrs;
  std::function<double(double)> ref;
  float lo = -4.0f, hi = 4.0f;
};

std::vector<PointwiseCase> pointwise_cases() {
  const double sa = 1.67326319217681884765625, sg = 1.05070102214813232421875;
  return {
      {"Relu", 14, {}, [](double x) { return std::max(x, 0.0); }},
      {"LeakyRelu", 16, {}, [](double x) { return x < 0 ? double(0.01f) * x : x; }},
      {"LeakyRelu", 6, {fattr("alpha", 0.3f)}, [](double x) { return x < 0 ? double(0.3f) * x : x; }},
      {"Elu", 6, {fattr("alpha", 2.0f)}, [](double x) { return x < 0 ? 2.0 * (std::exp(x) - 1) : x; }},
      {"Selu", 6, {}, [=](double x) { return x <= 0 ? sg * sa * (std::exp(x) - 1) : sg * x; }},
      {"Celu", 12, {fattr("alpha", 0.5f)},
       [](double x) { return std::max(0.0, x) + std::min(0.0, 0.5 * (std::exp(x / 0.5) - 1)); }},
      {"Softplus", 1, {}, softplus_ref},
      {"Softplus", 22, {}, softplus_ref, -60.0f, 60.0f},
      {"Softsign", 1, {}, [](double x) { return x / (1 + std::fabs(x)); }},
      {"Sigmoid", 13, {}, sigmoid_ref, -80.0f, 80.0f},
      {"Tanh", 13, {}, [](double x) { return std::tanh(x); }},
      {"HardSigmoid", 6, {}, [](double x) { return std::clamp(double(0.2f) * x + 0.5, 0.0, 1.0); }},
      {"HardSigmoid", 6, {fattr("alpha", 0.5f), fattr("beta", 0.25f)},
       [](double x) { return std::clamp(0.5 * x + 0.25, 0.0, 1.0); }},
      {"HardSwish", 14, {}, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }},
      {"Mish", 18, {}, [](double x) { return x * std::tanh(softplus_ref(x)); }},
      {"ThresholdedRelu", 10, {fattr("alpha", 0.5f)}, [](double x) { return x > 0.5 ? x : 0.0; }},
      {"Gelu", 20, {}, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"Gelu", 20, {sattr("approximate", "tanh")},
       [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }},
      {"Erf", 13, {}, [](double x) { return std::erf(x); }},
      {"Erf", 13, {}, [](double x) { return std::erf(x); }, -12.0f, 12.0f},  // float Erf is exactly +-1 past 4
      {"Sqrt", 13, {}, [](double x) { return std::sqrt(x); }, 0.0f, 9.0f},
      {"Exp", 13, {}, [](double x) { return std::exp(x); }},
      {"Log", 13, {}, [](double x) { return std::log(x); }, 0.01f, 9.0f},
      {"Neg", 13, {}, [](double x) { return -x; }},
      {"Abs", 13, {}, [](double x) { return std::fabs(x); }},
      {"Reciprocal", 13, {}, [](double x) { return 1 / x; }, 0.1f, 4.0f},
      {"Floor", 13, {}, [](double x) { return std::floor(x); }},
      {"Ceil", 13, {}, [](double x) { return std::ceil(x); }},
      {"Round", 11, {}, [](double x) { return std::nearbyint(x); }},
      {"Sign", 13, {}, [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }},
      {"Sin", 7, {}, [](double x) { return std::sin(x); }},
      {"Cos", 7, {}, [](double x) { return std::cos(x); }},
      {"Tan", 7, {}, [](double x) { return std::tan(x); }, -1.4f, 1.4f},
      {"Asin", 7, {}, [](double x) { return std::asin(x); }, -1.0f, 1.0f},
      {"Acos", 7, {}, [](double x) { return std::acos(x); }, -1.0f, 1.0f},
      {"Atan", 7, {}, [](double x) { return std::atan(x); }},
      {"Sinh", 9, {}, [](double x) { return std::sinh(x); }},
      {"Cosh", 9, {}, [](double x) { return std::cosh(x); }},
      {"Asinh", 9, {}, [](double x) { return std::asinh(x); }},
      {"Acosh", 9, {}, [](double x) { return std::acosh(x); }, 1.0f, 9.0f},
      {"Atanh", 9, {}, [](double x) { return std::atanh(x); }, -0.99f, 0.99f},
  };
}

}  // namespace

TEST_CASE("Pointwise activations and unary math match the spec formulas in float and double", "[activation]") {
  uint32_t seed = 1;
  for (const PointwiseCase& c : pointwise_cases()) {
    INFO(c.op << " opset " << c.opset);
    Tensor x = random_floats({3, 5, 7}, c.lo, c.hi, seed++);
    check_map(run_node(c.op, c.opset, {x}, c.attrs), x, c.ref, 1e-6, 2e-5);
    Tensor xd = to_double(x);
    Tensor yd = run_node(c.op, c.opset, {xd}, c.attrs);
    CHECK(yd.dtype() == DType::kDouble);
    check_map(yd, xd, c.ref, 1e-12, 1e-9);
  }
}

TEST_CASE("float16 and bfloat16 inputs are computed in float and rounded back", "[activation]") {
  uint32_t seed = 100;
  for (const PointwiseCase& c : pointwise_cases()) {
    INFO(c.op << " opset " << c.opset);
    Tensor xf = random_floats({4, 9}, c.lo, c.hi, seed++);
    Tensor h(DType::kFloat16, xf.shape()), bf(DType::kBFloat16, xf.shape());
    for (int64_t i = 0; i < xf.numel(); ++i) {
      h.mutable_values<uint16_t>()[i] = kernels::float_to_half(xf.values<float>()[i]);
      bf.mutable_values<uint16_t>()[i] = kernels::float_to_bfloat16(xf.values<float>()[i]);
    }
    Tensor yh = run_node(c.op, c.opset, {h}, c.attrs);
    CHECK(yh.dtype() == DType::kFloat16);
    check_map(yh, h, c.ref, 1e-4, 2e-3);  // one float16 ulp is 2^-10 relative at most
    Tensor yb = run_node(c.op, c.opset, {bf}, c.attrs);
    CHECK(yb.dtype() == DType::kBFloat16);
    check_map(yb, bf, c.ref, 1e-3, 1e-2);  // one bfloat16 ulp is 2^-7 relative at most
  }
}

TEST_CASE("Round ties to even; Sign and Relu keep NaN", "[activation]") {
  Tensor x = Tensor::from_floats({8}, std::vector<float>{-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 2.4f, 2.6f});
  Tensor y = run_node("Round", 11, {x});
  const float want[] = {-2, -2, -0.0f, 0, 2, 2, 2, 3};
  for (int i = 0; i < 8; ++i) CHECK(y.values<float>()[i] == want[i]);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const char* op : {"Relu", "Sign", "Round", "Abs", "Erf"}) {
    Tensor n = run_node(op, 13, {Tensor::from_floats({1}, std::vector<float>{nan})});
    CHECK(std::isnan(n.values<float>()[0]));
  }
  const float inf = std::numeric_limits<float>::infinity();
  Tensor e = run_node("Erf", 13, {Tensor::from_floats({3}, std::vector<float>{-inf, inf, 0.0f})});
  CHECK(e.values<float>()[0] == -1.0f);
  CHECK(e.values<float>()[1] == 1.0f);
  CHECK(e.values<float>()[2] == 0.0f);
}

TEST_CASE("Relu, Neg, Abs and Sign on integers", "[activation]") {
  const int8_t lo = std::numeric_limits<int8_t>::min();
  Tensor x = make<int8_t>(DType::kInt8, {5}, {lo, -3, 0, 4, 127});
  Tensor relu = run_node("Relu", 14, {x});
  Tensor neg = run_node("Neg", 13, {x});
  Tensor abs = run_node("Abs", 13, {x});
  Tensor sign = run_node("Sign", 13, {x});
  CHECK(relu.values<int8_t>()[0] == 0);
  CHECK(relu.values<int8_t>()[4] == 127);
  CHECK(neg.values<int8_t>()[0] == lo);  // wraps, as in numpy
  CHECK(neg.values<int8_t>()[1] == 3);
  CHECK(abs.values<int8_t>()[1] == 3);
  CHECK(sign.values<int8_t>()[0] == -1);
  CHECK(sign.values<int8_t>()[2] == 0);
  CHECK(sign.values<int8_t>()[3] == 1);
  Tensor u = make<uint32_t>(DType::kUInt32, {3}, {0, 7, 4000000000u});
  CHECK(run_node("Abs", 13, {u}).values<uint32_t>()[2] == 4000000000u);
  CHECK(run_node("Sign", 13, {u}).values<uint32_t>()[1] == 1);
  Tensor i64 = make<int64_t>(DType::kInt64, {2}, {-(int64_t{1} << 60), 5});
  CHECK(run_node("Abs", 13, {i64}).values<int64_t>()[0] == (int64_t{1} << 60));
  CHECK_THROWS_WITH(run_node("Neg", 13, {u}), Catch::Contains("[Neg node") && Catch::Contains("uint32"));
  CHECK_THROWS_WITH(run_node("Sqrt", 13, {i64}), Catch::StartsWith("[Sqrt node 'Sqrt_0' opset 13]"));
}

TEST_CASE("PRelu broadcasts the slope to X", "[activation]") {
  const std::vector<int64_t> xs = {2, 3, 4, 5};
  Tensor x = random_floats(xs, -3, 3, 7);
  const std::vector<std::vector<int64_t>> slope_shapes = {{3, 1, 1}, {5}, {1}, {4, 5}, {2, 3, 4, 5}, {1, 3, 1, 1}};
  uint32_t seed = 8;
  for (const auto& ss : slope_shapes) {
    Tensor s = random_floats(ss, -1, 1, seed++);
    Tensor y = run_node("PRelu", 16, {x, s});
    REQUIRE(y.shape() == xs);
    auto sstr = kernels::broadcast_strides(ss, xs);
    for (int64_t n = 0, i = 0; n < 2; ++n)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t h = 0; h < 4; ++h)
          for (int64_t w = 0; w < 5; ++w, ++i) {
            float v = x.values<float>()[i];
            float sl = s.values<float>()[n * sstr[0] + c * sstr[1] + h * sstr[2] + w * sstr[3]];
            CHECK(y.values<float>()[i] == (v < 0 ? sl * v : v));
          }
  }
  Tensor xi = make<int32_t>(DType::kInt32, {3}, {-4, 0, 9});
  Tensor si = make<int32_t>(DType::kInt32, {1}, {3});
  Tensor yi = run_node("PRelu", 16, {xi, si});
  CHECK(yi.values<int32_t>()[0] == -12);
  CHECK(yi.values<int32_t>()[2] == 9);
  // A slope that would grow X, or a slope of another type, is refused.
  CHECK_THROWS_WITH(run_node("PRelu", 16, {Tensor::from_floats({3}, std::vector<float>{1, 2, 3}), random_floats({2, 3}, 0, 1, 1)}),
                    Catch::Contains("does not broadcast"));
  CHECK_THROWS_WITH(run_node("PRelu", 16, {x, xi}), Catch::Contains("slope is int32"));
}

TEST_CASE("Clip: attributes before opset 11, optional inputs after, integers at 12+", "[activation]") {
  Tensor x = Tensor::from_floats({6}, std::vector<float>{-5, -1, 0, 1, 5, std::numeric_limits<float>::quiet_NaN()});
  auto scalar = [](float v) { return Tensor::from_floats({}, std::vector<float>{v}); };
  auto values = [](const Tensor& t) { return std::vector<float>(t.values<float>().begin(), t.values<float>().end()); };

  // Opset 1: an absent bound is no bound. Opset 6: absent bounds default to the float range.
  Tensor y1 = run_node("Clip", 1, {x}, {fattr("max", 2.0f)});
  CHECK(y1.values<float>()[0] == -5);
  CHECK(y1.values<float>()[4] == 2);
  Tensor y6 = run_node("Clip", 6, {x}, {fattr("min", -2.0f), fattr("max", 2.0f)});
  CHECK(values(y6)[0] == -2);
  CHECK(values(y6)[3] == 1);
  CHECK(std::isnan(values(y6)[5]));
  // Opset 11: only max given (min omitted with "").
  Tensor y11 = run_node("Clip", 11, {x, std::nullopt, scalar(0.5f)});
  CHECK(values(y11)[0] == -5);
  CHECK(values(y11)[3] == 0.5f);
  // min > max: every element becomes max.
  Tensor swapped = run_node("Clip", 13, {x, scalar(3), scalar(1)});
  CHECK(values(swapped)[0] == 1);
  CHECK(values(swapped)[4] == 1);
  // Integers (opset 12+), bounds exactly representable only as int64.
  const int64_t big = (int64_t{1} << 60) + 1;
  Tensor xi = make<int64_t>(DType::kInt64, {3}, {-big, 3, big + 5});
  Tensor yi = run_node("Clip", 12, {xi, make<int64_t>(DType::kInt64, {}, {-big + 2}), make<int64_t>(DType::kInt64, {}, {big})});
  CHECK(yi.values<int64_t>()[0] == -big + 2);
  CHECK(yi.values<int64_t>()[1] == 3);
  CHECK(yi.values<int64_t>()[2] == big);
  Tensor yu = run_node("Clip", 13, {make<uint8_t>(DType::kUInt8, {3}, {0, 100, 255}), make<uint8_t>(DType::kUInt8, {1}, {10}),
                                    std::nullopt});
  CHECK(yu.values<uint8_t>()[0] == 10);
  CHECK(yu.values<uint8_t>()[2] == 255);
  // float16: results are the exact bit patterns of x or the bounds.
  Tensor h = make<uint16_t>(DType::kFloat16, {3}, {kernels::float_to_half(-3), kernels::float_to_half(0.1f), kernels::float_to_half(7)});
  Tensor hb = make<uint16_t>(DType::kFloat16, {}, {kernels::float_to_half(-1)});
  Tensor yh = run_node("Clip", 13, {h, hb, std::nullopt});
  CHECK(yh.values<uint16_t>()[0] == hb.values<uint16_t>()[0]);
  CHECK(yh.values<uint16_t>()[1] == h.values<uint16_t>()[1]);
  // Bad bounds.
  CHECK_THROWS_WITH(run_node("Clip", 13, {x, Tensor::from_floats({2}, std::vector<float>{0, 1})}), Catch::Contains("min must be a scalar"));
  CHECK_THROWS_WITH(run_node("Clip", 13, {x, make<int64_t>(DType::kInt64, {}, {0})}), Catch::Contains("min is int64"));
  CHECK_THROWS_WITH(run_node("Clip", 6, {xi}), Catch::StartsWith("[Clip node") && Catch::Contains("int64"));
}

TEST_CASE("IsNaN and IsInf, with the detect flags and on float16", "[activation]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::from_floats({4}, std::vector<float>{inf, -inf, nan, 1});
  Tensor isnan = run_node("IsNaN", 13, {x});
  CHECK(isnan.dtype() == DType::kBool);
  CHECK(isnan.values<bool>()[2]);
  CHECK_FALSE(isnan.values<bool>()[0]);
  Tensor pos = run_node("IsInf", 10, {x}, {iattr("detect_negative", 0)});
  CHECK(pos.values<bool>()[0]);
  CHECK_FALSE(pos.values<bool>()[1]);
  CHECK_FALSE(pos.values<bool>()[2]);
  Tensor neg = run_node("IsInf", 10, {x}, {iattr("detect_positive", 0)});
  CHECK_FALSE(neg.values<bool>()[0]);
  CHECK(neg.values<bool>()[1]);
  Tensor h = make<uint16_t>(DType::kFloat16, {3}, {0x7c00, 0x7e00, 0x3c00});
  CHECK(run_node("IsInf", 20, {h}).values<bool>()[0]);
  CHECK(run_node("IsNaN", 20, {h}).values<bool>()[1]);
  Tensor f8 = make<uint8_t>(DType::kFloat8E4M3FN, {2}, {0x7f, 0x38});
  CHECK(run_node("IsNaN", 20, {f8}).values<bool>()[0]);
  CHECK_FALSE(run_node("IsNaN", 20, {f8}).values<bool>()[1]);
}

TEST_CASE("Activation errors name the node and opset", "[activation]") {
  Tensor x = Tensor::from_floats({2}, std::vector<float>{1, 2});
  CHECK_THROWS_WITH(run_node("Gelu", 20, {x}, {sattr("approximate", "fast")}),
                    Catch::StartsWith("[Gelu node 'Gelu_0' opset 20]") && Catch::Contains("approximate"));
  CHECK_THROWS_WITH(run_node("Celu", 12, {x}, {fattr("alpha", 0.0f)}), Catch::Contains("alpha must not be 0"));
  CHECK_THROWS_AS(run_node("Sigmoid", 13, {make<int32_t>(DType::kInt32, {1}, {1})}), Error);
  CHECK_THROWS_AS(run_node("Mish", 17, {x}), Error);  // Mish starts at opset 18
}

TEST_CASE("Results do not depend on the thread count", "[activation]") {
  Tensor x = random_floats({5, 40000}, -6, 6, 11);
  for (const char* op : {"Gelu", "Sigmoid", "Tanh"}) {
    Tensor one = run_node(op, 20, {x}, {}, 1);
    Tensor two = run_node(op, 20, {x}, {}, 2);
    CHECK(one.equals(two));
  }
}

namespace {

Tensor cast(const Tensor& x, DType to, int64_t opset = 21, std::vector<ir::Attribute> extra = {}) {
  extra.push_back(iattr("to", static_cast<int64_t>(to)));
  return run_node("Cast", opset, {x}, std::move(extra));
}

// Naive float8 decoding straight from the format definitions (the test's oracle).
double naive_float8(uint8_t code, int mbits, int bias, bool fnuz, bool ieee) {
  const int ebits = 7 - mbits;
  const int e = (code >> mbits) & ((1 << ebits) - 1), m = code & ((1 << mbits) - 1);
  const double s = (code & 0x80) ? -1.0 : 1.0;
  if (fnuz && code == 0x80) return NAN;
  if (ieee && e == (1 << ebits) - 1) return m ? NAN : s * INFINITY;
  if (!ieee && !fnuz && e == (1 << ebits) - 1 && m == (1 << mbits) - 1) return NAN;
  return e == 0 ? s * std::ldexp(m, 1 - bias - mbits) : s * std::ldexp(m + (1 << mbits), e - bias - mbits);
}

}  // namespace

TEST_CASE("Cast between every pair of standard numeric types", "[activation][cast]") {
  const DType types[] = {DType::kFloat, DType::kDouble, DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64,
                         DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64, DType::kBool};
  Tensor base = Tensor::from_floats({2, 2}, std::vector<float>{0, 1, 1, 0});
  Tensor small = Tensor::from_floats({4}, std::vector<float>{0, 1, 2, 100});
  for (DType from : types) {
    for (DType to : types) {
      INFO(ir::dtype_name(from) << " -> " << ir::dtype_name(to));
      const Tensor& src = (from == DType::kBool || to == DType::kBool) ? base : small;
      Tensor x = cast(src, from);
      Tensor y = cast(x, to);
      REQUIRE(y.dtype() == to);
      REQUIRE(y.shape() == x.shape());
      for (int64_t i = 0; i < x.numel(); ++i) CHECK(y.element_as_double(i) == x.element_as_double(i));
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor f = Tensor::from_floats({5}, std::vector<float>{-2.7f, -0.5f, 0.0f, 1.9f, nan});
  Tensor i32 = cast(f, DType::kInt32);
  CHECK(i32.values<int32_t>()[0] == -2);  // truncation toward zero
  CHECK(i32.values<int32_t>()[3] == 1);
  CHECK(cast(f, DType::kUInt8).values<uint8_t>()[0] == 254);  // -2 wraps, as in numpy
  Tensor b = cast(f, DType::kBool);
  CHECK(b.values<bool>()[1]);
  CHECK_FALSE(b.values<bool>()[2]);
  CHECK(b.values<bool>()[4]);  // NaN is true
  const int64_t big = (int64_t{1} << 60) + 1;
  CHECK(cast(make<int64_t>(DType::kInt64, {1}, {big}), DType::kDouble).values<double>()[0] == static_cast<double>(big));
  CHECK(cast(make<double>(DType::kDouble, {1}, {1e19}), DType::kUInt64).values<uint64_t>()[0] == 10000000000000000000ull);
}

TEST_CASE("Cast float16 and bfloat16: exact decoding, round half to even on encoding", "[activation][cast]") {
  Tensor all(DType::kFloat16, {65536});
  for (int i = 0; i < 65536; ++i) all.mutable_values<uint16_t>()[i] = static_cast<uint16_t>(i);
  Tensor f = cast(all, DType::kFloat);
  Tensor back = cast(f, DType::kFloat16);
  Tensor d = cast(all, DType::kDouble);
  for (int64_t i = 0; i < 65536; ++i) {
    const double want = all.element_as_double(i);  // ir's own decoder
    if (std::isnan(want)) {
      CHECK(std::isnan(f.values<float>()[i]));
      CHECK(std::isnan(back.element_as_double(i)));
    } else {
      CHECK(f.values<float>()[i] == want);
      CHECK(d.values<double>()[i] == want);
      CHECK(back.values<uint16_t>()[i] == i);
    }
  }
  const float t = std::ldexp(1.0f, -11);
  Tensor ties = Tensor::from_floats({6}, std::vector<float>{1 + t, 1 + 3 * t, 65519.0f, 65520.0f, std::ldexp(1.0f, -25),
                                                            3 * std::ldexp(1.0f, -25)});
  Tensor h = cast(ties, DType::kFloat16);
  const uint16_t want_h[] = {0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000, 0x0002};
  for (int i = 0; i < 6; ++i) CHECK(h.values<uint16_t>()[i] == want_h[i]);
  const uint32_t bits[] = {0x3f808000u, 0x3f818000u, 0x3f808001u, 0x7fc00001u};
  Tensor bf_in(DType::kFloat, {4});
  std::memcpy(bf_in.mutable_bytes().data(), bits, sizeof bits);
  Tensor bf = cast(bf_in, DType::kBFloat16);
  CHECK(bf.values<uint16_t>()[0] == 0x3f80);
  CHECK(bf.values<uint16_t>()[1] == 0x3f82);
  CHECK(bf.values<uint16_t>()[2] == 0x3f81);
  CHECK(std::isnan(bf.element_as_double(3)));
}

TEST_CASE("Cast to and from the float8 types, saturating or not", "[activation][cast]") {
  struct Fmt {
    DType dtype;
    int mbits, bias;
    bool fnuz, ieee;
    double max;
  };
  const Fmt fmts[] = {{DType::kFloat8E4M3FN, 3, 7, false, false, 448},
                      {DType::kFloat8E4M3FNUZ, 3, 8, true, false, 240},
                      {DType::kFloat8E5M2, 2, 15, false, true, 57344},
                      {DType::kFloat8E5M2FNUZ, 2, 16, true, false, 57344}};
  const float inf = std::numeric_limits<float>::infinity();
  for (const Fmt& fm : fmts) {
    INFO(ir::dtype_name(fm.dtype));
    Tensor codes(fm.dtype, {256});
    for (int i = 0; i < 256; ++i) codes.mutable_values<uint8_t>()[i] = static_cast<uint8_t>(i);
    Tensor f = cast(codes, DType::kFloat);
    Tensor again = cast(f, fm.dtype, 21, {iattr("saturate", 0)});
    for (int i = 0; i < 256; ++i) {
      const double want = naive_float8(static_cast<uint8_t>(i), fm.mbits, fm.bias, fm.fnuz, fm.ieee);
      if (std::isnan(want)) {
        CHECK(std::isnan(f.values<float>()[i]));
      } else {
        CHECK(f.values<float>()[i] == want);
        CHECK(again.values<uint8_t>()[i] == i);
      }
    }
    // Out of range: the largest finite value when saturating; else infinity (E5M2) or NaN.
    Tensor big = Tensor::from_floats({3}, std::vector<float>{static_cast<float>(fm.max) * 4, -inf, -0.0f});
    Tensor sat = cast(cast(big, fm.dtype, 19), DType::kFloat, 19);
    CHECK(sat.values<float>()[0] == fm.max);
    CHECK(sat.values<float>()[1] == -fm.max);
    Tensor raw = cast(cast(big, fm.dtype, 19, {iattr("saturate", 0)}), DType::kFloat);
    if (fm.ieee) {
      CHECK(raw.values<float>()[0] == inf);
      CHECK(raw.values<float>()[1] == -inf);
    } else {
      CHECK(std::isnan(raw.values<float>()[0]));
      CHECK(std::isnan(raw.values<float>()[1]));
    }
    CHECK(cast(big, fm.dtype).values<uint8_t>()[2] == (fm.fnuz ? 0x00 : 0x80));  // no negative zero in FNUZ
  }
  // Rounding to nearest even between the two E4M3FN neighbours of 1: 1 and 1.125.
  Tensor ties = Tensor::from_floats({3}, std::vector<float>{1.0625f, 1.1875f, 1.07f});
  Tensor e4 = cast(ties, DType::kFloat8E4M3FN);
  CHECK(e4.values<uint8_t>()[0] == 0x38);
  CHECK(e4.values<uint8_t>()[1] == 0x3a);
  CHECK(e4.values<uint8_t>()[2] == 0x39);
}

TEST_CASE("Cast to and from int4/uint4: clamp, round half to even, pack two per byte", "[activation][cast]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::from_floats({9}, std::vector<float>{-9.5f, -8.5f, -2.5f, 0.5f, 1.5f, 7.6f, 100, nan, 3});
  Tensor i4 = cast(x, DType::kInt4);
  REQUIRE(i4.storage_bytes() == 5);
  CHECK(static_cast<uint8_t>(i4.bytes()[0]) == 0x88);  // -8, -8
  Tensor back = cast(i4, DType::kFloat);
  const float want[] = {-8, -8, -2, 0, 2, 7, 7, 0, 3};
  for (int i = 0; i < 9; ++i) CHECK(back.values<float>()[i] == want[i]);
  CHECK(cast(i4, DType::kInt8).values<int8_t>()[2] == -2);
  Tensor u4 = cast(Tensor::from_floats({3}, std::vector<float>{-3, 15.5f, 14.5f}), DType::kUInt4);
  Tensor u8 = cast(u4, DType::kUInt8);
  CHECK(u8.values<uint8_t>()[0] == 0);
  CHECK(u8.values<uint8_t>()[1] == 15);
  CHECK(u8.values<uint8_t>()[2] == 14);
}

TEST_CASE("Cast to and from strings uses numpy's text forms", "[activation][cast]") {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor f = Tensor::from_floats({8}, std::vector<float>{0.039187793f, 1e-5f, 123.0f, -0.0f, -inf, NAN, 1e16f, 0.0001f});
  Tensor s = cast(f, DType::kString);
  const std::vector<std::string> want = {"0.039187793", "1e-05", "123.0", "-0.0", "-inf", "nan", "1e+16", "1e-04"};
  CHECK(s.strings() == want);
  CHECK(cast(make<int32_t>(DType::kInt32, {2}, {-7, 42}), DType::kString).strings() == std::vector<std::string>{"-7", "42"});
  CHECK(cast(cast(f, DType::kBool), DType::kString).strings()[0] == "True");
  Tensor text = Tensor::from_strings({8}, {"0.47892547", "NaN", "INF", "+INF", "-INF", " 1.5 ", "1e-5", "1E8"});
  Tensor parsed = cast(text, DType::kFloat);
  CHECK(parsed.values<float>()[0] == 0.47892547f);
  CHECK(std::isnan(parsed.values<float>()[1]));
  CHECK(parsed.values<float>()[3] == inf);
  CHECK(parsed.values<float>()[4] == -inf);
  CHECK(parsed.values<float>()[5] == 1.5f);
  CHECK(parsed.values<float>()[7] == 1e8f);
  Tensor exact = cast(Tensor::from_strings({1}, {"9007199254740993"}), DType::kInt64);
  CHECK(exact.values<int64_t>()[0] == 9007199254740993);
  CHECK_THROWS_WITH(cast(Tensor::from_strings({1}, {"abc"}), DType::kFloat),
                    Catch::StartsWith("[Cast node") && Catch::Contains("cannot read 'abc'"));
}

TEST_CASE("Cast's `to` across opsets, CastLike, and bad targets", "[activation][cast]") {
  Tensor x = Tensor::from_floats({2}, std::vector<float>{1.5f, -2.0f});
  Tensor y1 = run_node("Cast", 1, {x}, {sattr("to", "INT32")});  // opset 1-5: the type's name
  CHECK(y1.dtype() == DType::kInt32);
  CHECK(y1.values<int32_t>()[1] == -2);
  CHECK(cast(x, DType::kDouble, 6).dtype() == DType::kDouble);
  Tensor same = cast(x, DType::kFloat, 13);
  CHECK(same.equals(x));
  Tensor like = run_node("CastLike", 15, {x, make<int64_t>(DType::kInt64, {0}, {})});
  CHECK(like.dtype() == DType::kInt64);
  CHECK(like.values<int64_t>()[0] == 1);
  Tensor like8 = run_node("CastLike", 19, {Tensor::from_floats({1}, std::vector<float>{1e6f}), make<uint8_t>(DType::kFloat8E5M2, {1}, {0})},
                          {iattr("saturate", 0)});
  CHECK(like8.values<uint8_t>()[0] == 0x7c);
  CHECK_THROWS_WITH(run_node("Cast", 13, {x}, {iattr("to", 99)}), Catch::Contains("not an ONNX element type"));
  CHECK_THROWS_WITH(run_node("Cast", 13, {x}), Catch::Contains("'to' is required"));
  CHECK_THROWS_WITH(run_node("Cast", 3, {x}, {sattr("to", "FLOATY")}), Catch::Contains("unknown element type"));
  CHECK_THROWS_WITH(cast(x, DType::kComplex64), Catch::Contains("complex64"));
}

TEST_CASE("PRelu opset 6 reads a 1-D slope per channel; empty tensors pass through", "[activation]") {
  Tensor x = Tensor::from_floats({1, 2, 2, 2}, std::vector<float>{-1, -2, 3, -4, -1, -2, 3, -4});
  Tensor s = Tensor::from_floats({2}, std::vector<float>{10, 100});
  Tensor y = run_node("PRelu", 6, {x, s});
  const float want[] = {-10, -20, 3, -40, -100, -200, 3, -400};
  for (int i = 0; i < 8; ++i) CHECK(y.values<float>()[i] == want[i]);
  Tensor empty(DType::kFloat, {2, 0});
  CHECK(run_node("Relu", 14, {empty}).shape() == std::vector<int64_t>{2, 0});
  CHECK(cast(empty, DType::kInt4).storage_bytes() == 0);
  CHECK(cast(empty, DType::kString).strings().empty());
}
