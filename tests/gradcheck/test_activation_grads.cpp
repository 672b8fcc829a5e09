// Backward rules of the activation family (kernels/ops/activation_grads.cpp) against central finite
// differences in double: every pointwise activation and unary math op with each attribute that
// changes the math, PRelu's slope broadcasting (numpy and opsets 1-6 per channel), Clip in all its
// opset forms (bounds as attributes, as inputs, omitted), Cast/CastLike between float types; and
// float tensors through the same rules. Inputs stay away from kinks (Relu, Abs, Clip bounds ...):
// a finite difference across a kink measures neither side.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "kernels/exec/autodiff.h"
#include "kernels/exec/executor.h"
#include "support/gradcheck.h"
#include "support/tolerance.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;
using ir::GraphBuilder;
using ir::Tensor;

namespace {

const std::vector<int64_t> kShape = {2, 3, 4};

// One pointwise case: op, opset, attributes and the input's range.
struct Case {
  const char* op;
  int64_t opset;
  std::vector<ir::Attribute> attrs;
  double lo = -1.0, hi = 1.0;
  bool away_from_zero = false;  ///< |x| in [0.1, 1] with random sign (a kink at 0)
};

std::string check_case(const Case& c, uint64_t seed) {
  Tensor x =
      c.away_from_zero ? test::random_away_from_zero(kShape, seed) : test::random_doubles(kShape, seed, c.lo, c.hi);
  return test::gradcheck(c.op, {GradInput::data(x)}, c.attrs, at(c.opset));
}

}  // namespace

TEST_CASE("activation gradients match finite differences", "[gradcheck][activation]") {
  const std::vector<Case> cases = {
      {"Relu", 6, {}, -1, 1, true},
      {"Relu", 14, {}, -1, 1, true},
      {"LeakyRelu", 16, {}, -1, 1, true},
      {"LeakyRelu", 16, {attr_f("alpha", 0.2f)}, -1, 1, true},
      {"Elu", 6, {}, -1, 1, true},
      {"Elu", 6, {attr_f("alpha", 0.5f)}, -1, 1, true},
      {"Selu", 6, {}, -1, 1, true},
      {"Selu", 6, {attr_f("alpha", 1.5f), attr_f("gamma", 2.0f)}, -1, 1, true},
      {"Celu", 12, {}, -1, 1, true},
      {"Celu", 12, {attr_f("alpha", 2.0f)}, -1, 1, true},
      {"Softplus", 1, {}, -4, 4},
      {"Softsign", 1, {}, -1, 1, true},
      {"Sigmoid", 13, {}, -4, 4},
      {"Tanh", 13, {}, -3, 3},
      // Corners where alpha x + beta is 0 or 1: default +-2.5; alpha 0.5, beta 0.3: -0.6 and 1.4.
      {"HardSigmoid", 6, {}, -4, 4},
      {"HardSigmoid", 6, {attr_f("alpha", 0.5f), attr_f("beta", 0.3f)}, -2, 2},
      {"HardSwish", 14, {}, -5, 5},
      {"Mish", 18, {}, -3, 3},
      {"ThresholdedRelu", 10, {}, -2, 2},
      {"ThresholdedRelu", 10, {attr_f("alpha", 0.5f)}, -2, 2},
      {"Erf", 13, {}, -2, 2},
      {"Gelu", 20, {}, -3, 3},
      {"Gelu", 20, {attr_s("approximate", "tanh")}, -3, 3},
      {"Sqrt", 13, {}, 0.1, 2},
      {"Exp", 13, {}, -2, 2},
      {"Log", 13, {}, 0.1, 2},
      {"Neg", 13, {}},
      {"Abs", 13, {}, -1, 1, true},
      {"Reciprocal", 13, {}, -1, 1, true},
      {"Sin", 7, {}, -3, 3},
      {"Cos", 7, {}, -3, 3},
      {"Tan", 7, {}, -1.2, 1.2},
      {"Asin", 7, {}, -0.9, 0.9},
      {"Acos", 7, {}, -0.9, 0.9},
      {"Atan", 7, {}, -3, 3},
      {"Sinh", 9, {}, -2, 2},
      {"Cosh", 9, {}, -2, 2},
      {"Asinh", 9, {}, -3, 3},
      {"Acosh", 9, {}, 1.1, 3},
      {"Atanh", 9, {}, -0.9, 0.9},
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    INFO(c.op << " opset " << c.opset << " with " << c.attrs.size() << " attributes");
    CHECK(check_case(c, ++seed) == "");
  }
}

TEST_CASE("PRelu gradients reach X and the broadcast slope", "[gradcheck][activation]") {
  const Tensor x = test::random_away_from_zero({2, 3, 4}, 11);
  SECTION("slope of X's shape") {
    CHECK(test::gradcheck("PRelu", {GradInput::data(x), GradInput::data(test::random_doubles({2, 3, 4}, 12))}) == "");
  }
  SECTION("slope broadcast over the batch and the last axis") {
    CHECK(test::gradcheck("PRelu", {GradInput::data(x), GradInput::data(test::random_doubles({3, 1}, 13))}) == "");
  }
  SECTION("slope broadcast along the last axis") {
    CHECK(test::gradcheck("PRelu", {GradInput::data(x), GradInput::data(test::random_doubles({4}, 14))}) == "");
  }
  SECTION("one slope") {
    CHECK(test::gradcheck("PRelu", {GradInput::data(x), GradInput::data(test::random_doubles({1}, 15))}) == "");
  }
  SECTION("opset 6: a 1-D slope of size C is per channel") {
    CHECK(test::gradcheck("PRelu", {GradInput::data(x), GradInput::data(test::random_doubles({3}, 16))}, {}, at(6)) ==
          "");
  }
}

TEST_CASE("Clip passes the gradient inside its bounds only, in every opset form", "[gradcheck][activation]") {
  // x in [-1, 1]; the bounds +-0.5 cut about half the elements, none within eps of a bound.
  const Tensor x = test::random_doubles({3, 5}, 21);
  SECTION("opset 1: min only (no upper bound when max is absent)") {
    CHECK(test::gradcheck("Clip", {GradInput::data(x)}, {attr_f("min", -0.5f)}, at(1)) == "");
  }
  SECTION("opset 6: both attributes") {
    CHECK(test::gradcheck("Clip", {GradInput::data(x)}, {attr_f("min", -0.5f), attr_f("max", 0.5f)}, at(6)) == "");
  }
  SECTION("opset 6: max only (min defaults to the float range)") {
    CHECK(test::gradcheck("Clip", {GradInput::data(x)}, {attr_f("max", 0.25f)}, at(6)) == "");
  }
  SECTION("opset 13: min and max inputs, also differentiated") {
    CHECK(test::gradcheck(
              "Clip", {GradInput::data(x), GradInput::data(doubles({}, {-0.5})), GradInput::data(doubles({}, {0.5}))},
              {}, at(13)) == "");
  }
  SECTION("opset 11: bounds as constants") {
    CHECK(test::gradcheck(
              "Clip", {GradInput::data(x), GradInput::fixed(doubles({}, {-0.3})), GradInput::fixed(doubles({}, {0.6}))},
              {}, at(11)) == "");
  }
  SECTION("opset 13: min omitted") {
    CHECK(test::gradcheck("Clip",
                          {GradInput::data(x), GradInput::unchecked(Tensor()), GradInput::data(doubles({}, {0.2}))}, {},
                          at(13)) == "");
  }
  SECTION("opset 13: max omitted") {
    CHECK(test::gradcheck("Clip", {GradInput::data(x), GradInput::data(doubles({}, {-0.2}))}, {}, at(13)) == "");
  }
  SECTION("opset 13: no bounds") { CHECK(test::gradcheck("Clip", {GradInput::data(x)}, {}, at(13)) == ""); }
}

TEST_CASE("Cast and CastLike pass the gradient back to the input's float type", "[gradcheck][activation]") {
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 17}};
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", DType::kDouble, std::vector<int64_t>{3, 4});
  const auto to = [](DType t) { return attr_i("to", static_cast<int64_t>(t)); };
  SECTION("double -> float -> double") {
    b.output(b.op("Cast", {b.op("Cast", {x}, {to(DType::kFloat)})}, {to(DType::kDouble)}));
  }
  SECTION("CastLike to float and back") {
    ir::Value* like_float = b.initializer("like_float", Tensor(DType::kFloat, {1}));
    ir::Value* like_double = b.initializer("like_double", Tensor(DType::kDouble, {1}));
    b.output(b.op("CastLike", {b.op("CastLike", {x, like_float}), like_double}));
  }
  // The float round trip rounds x +- eps to 24 bits: the difference quotient carries an error of
  // about 2^-24 / eps, so eps is 1e-2 (the function is linear between roundings) and atol 1e-5.
  test::GradcheckOptions o;
  o.eps = 1e-2;
  o.atol = 1e-5;
  CHECK(test::gradcheck_model(m, {{"x", test::random_doubles({3, 4}, 31)}}, {"x"}, o) == "");
}

TEST_CASE("Cast to double keeps the gradient exact", "[gradcheck][activation]") {
  const Tensor x = test::random_doubles({3, 4}, 32);
  CHECK(test::gradcheck("Cast", {GradInput::data(x)}, {attr_i("to", static_cast<int64_t>(DType::kDouble))}) == "");
}

TEST_CASE("activation rules run on float tensors and agree with double", "[gradcheck][activation]") {
  // y = Clip(Gelu(Sigmoid(x) * x)), float and double: the float gradient within float precision.
  auto gradient = [](DType dtype) {
    ir::Model m;
    m.graph = std::make_unique<ir::Graph>();
    m.opset_imports = {{"", 20}};
    GraphBuilder b(*m.graph);
    ir::Value* x = b.input("x", dtype, std::vector<int64_t>{4, 5});
    ir::Value* h = b.op("Gelu", {b.op("Mul", {b.op("Sigmoid", {x}), x})});
    b.output(b.op("Clip", {h}));
    kernels::ExecutorOptions eo;
    eo.threads = 1;
    eo.training = true;
    kernels::Executor exec(m, eo);
    kernels::Autodiff ad(m, {x});
    Tensor xd = test::random_doubles({4, 5}, 41, -3, 3);
    Tensor feed = xd;
    if (dtype == DType::kFloat) {
      feed = Tensor(DType::kFloat, {4, 5});
      for (size_t i = 0; i < 20; ++i) feed.mutable_values<float>()[i] = static_cast<float>(xd.values<double>()[i]);
    }
    kernels::NamedTensors out = exec.run({{"x", feed}});
    Tensor dy(dtype, {4, 5});
    if (dtype == DType::kFloat) {
      for (float& v : dy.mutable_values<float>()) v = 1.0f;
    } else {
      for (double& v : dy.mutable_values<double>()) v = 1.0;
    }
    std::vector<Tensor> g = ad.backward(exec, {{out[0].first, dy}});
    std::vector<double> r;
    for (int64_t i = 0; i < 20; ++i) {
      r.push_back(dtype == DType::kFloat ? g[0].values<float>()[i] : g[0].values<double>()[i]);
    }
    return std::make_pair(g[0].dtype(), r);
  };
  auto [tf, gf] = gradient(DType::kFloat);
  auto [td, gd] = gradient(DType::kDouble);
  CHECK(tf == DType::kFloat);
  CHECK(td == DType::kDouble);
  for (size_t i = 0; i < gd.size(); ++i) {
    INFO("element " << i);
    CHECK(test::near(gf[i], gd[i], 1e-5, 1e-4));  // float rounding of x and of each step
  }
}
