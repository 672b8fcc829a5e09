// Backward rules of the reduction family (kernels/ops/reduction_grads.cpp) against central finite
// differences in double: every ReduceXxx with axes as attribute (opsets before 13/18) and as
// input, keepdims 0/1, negative axes, all axes, noop_with_empty_axes; ReduceProd with zeros;
// ReduceMax/ReduceMin ties (the gradient is split evenly: checked exactly, since a finite
// difference across a tie measures neither side); CumSum (exclusive, reverse); TopK.
#include <catch2/catch.hpp>

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
using ir::GraphBuilder;
using ir::Tensor;

namespace {

const std::vector<int64_t> kShape = {2, 3, 4};

// An axes variant: attribute axes (empty = attribute absent), keepdims, and for the input form
// whether the axes input is given and noop_with_empty_axes.
struct Axes {
  std::vector<int64_t> axes;
  int64_t keepdims = 1;
  bool omit_input = false;  ///< input form: no axes input at all
  int64_t noop = 0;         ///< input form: noop_with_empty_axes
};

std::vector<Axes> axes_variants() {
  return {
      {{1}, 1},      {{1}, 0},    {{0, 2}, 1}, {{0, 2}, 0}, {{-1}, 1}, {{-3, -1}, 0},
      {{}, 1, true}, {{}, 0, true},                      // all axes
      {{}, 1, false, 1},                                 // an empty axes input with noop: identity-like
      {{0, 1, 2}, 0},
  };
}

// Input in (lo, hi), or |x| in [0.1, 1] for ops with a kink at 0.
Tensor input_for(const std::string& op, uint64_t seed) {
  if (op == "ReduceL1") return test::random_away_from_zero(kShape, seed);
  if (op == "ReduceLogSum") return test::random_doubles(kShape, seed, 0.2, 1.5);
  if (op == "ReduceL2") return test::random_away_from_zero(kShape, seed, 0.2);
  if (op == "ReduceProd") return test::random_doubles(kShape, seed, 0.5, 1.5);
  return test::random_doubles(kShape, seed, -2, 2);
}

std::string check_reduce(const std::string& op, int64_t opset, const Axes& a, const Tensor& x) {
  std::vector<ir::Attribute> attrs = {attr_i("keepdims", a.keepdims)};
  std::vector<GradInput> inputs = {GradInput::data(x)};
  const int64_t input_since = op == "ReduceSum" ? 13 : 18;
  if (opset < input_since) {
    if (!a.axes.empty()) attrs.push_back(attr_ints("axes", a.axes));
    if (a.noop) return "";  // no noop_with_empty_axes before the input form
  } else {
    if (!a.omit_input) inputs.push_back(GradInput::fixed(test::int64s({static_cast<int64_t>(a.axes.size())}, a.axes)));
    if (a.noop) attrs.push_back(attr_i("noop_with_empty_axes", a.noop));
  }
  return test::gradcheck(op, inputs, attrs, at(opset));
}

// The gradient of `op` (one input x, attributes attrs) for dL/dy = dy, through Executor + Autodiff.
Tensor gradient_of(const std::string& op, const Tensor& x, const Tensor& dy, std::vector<ir::Attribute> attrs, int64_t opset) {
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", opset}};
  GraphBuilder b(*m.graph);
  ir::Value* in = b.input("x", x.dtype(), x.shape());
  ir::Value* y = b.op(op, {in}, std::move(attrs));
  b.output(y);
  kernels::ExecutorOptions eo;
  eo.training = true;
  kernels::Executor exec(m, eo);
  kernels::Autodiff ad(m, {in});
  exec.run({{"x", x}});
  return ad.backward(exec, {{y->name(), dy}})[0];
}

std::vector<double> values(const Tensor& t) { return {t.values<double>().begin(), t.values<double>().end()}; }

}  // namespace

TEST_CASE("ReduceXxx gradients for every axes form", "[gradcheck][reduction]") {
  const char* ops[] = {"ReduceSum",  "ReduceMean",   "ReduceMax",       "ReduceMin",       "ReduceProd",
                       "ReduceL1",   "ReduceL2",     "ReduceLogSum",    "ReduceLogSumExp", "ReduceSumSquare"};
  uint64_t seed = 1;
  for (const char* op : ops) {
    // The attribute form (11 for every op; ReduceSum has it through 12), then the input form.
    for (int64_t opset : {int64_t{11}, std::string(op) == "ReduceSum" ? int64_t{13} : int64_t{18}}) {
      for (const Axes& a : axes_variants()) {
        INFO(op << " opset " << opset << " axes " << ir::shape_to_string(a.axes) << " keepdims " << a.keepdims
                << (a.omit_input ? " (no axes input)" : "") << (a.noop ? " noop_with_empty_axes" : ""));
        CHECK(check_reduce(op, opset, a, input_for(op, ++seed)) == "");
      }
    }
  }
}

TEST_CASE("ReduceSum at opset 1 and ReduceMean at opset 13 keep the attribute form", "[gradcheck][reduction]") {
  CHECK(test::gradcheck("ReduceSum", {GradInput::data(test::random_doubles(kShape, 3))}, {attr_ints("axes", {2})},
                        at(1)) == "");
  CHECK(test::gradcheck("ReduceMean", {GradInput::data(test::random_doubles(kShape, 4))},
                        {attr_ints("axes", {0, 1}), attr_i("keepdims", 0)}, at(13)) == "");
}

TEST_CASE("ReduceProd gradients stay exact where the input has zeros", "[gradcheck][reduction]") {
  // Row 0: one zero (only it gets a gradient, the product of the others); row 1: two zeros (none); row 2: none.
  const Tensor x = doubles({3, 4}, {0.5, 0.0, 1.5, -2.0, 0.0, 1.0, 0.0, 2.0, 0.7, -1.1, 1.3, 0.9});
  CHECK(test::gradcheck("ReduceProd", {GradInput::data(x)}, {attr_ints("axes", {1})}, at(13)) == "");
  const Tensor g = gradient_of("ReduceProd", x, doubles({3, 1}, {1, 1, 1}), {attr_ints("axes", {1})}, 13);
  const std::vector<double> want = {0, 0.5 * 1.5 * -2.0, 0, 0, 0, 0, 0, 0, -1.1 * 1.3 * 0.9, 0.7 * 1.3 * 0.9,
                                    0.7 * -1.1 * 0.9, 0.7 * -1.1 * 1.3};
  const std::vector<double> got = values(g);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(test::near(got[i], want[i], 1e-15, 1e-14));
}

TEST_CASE("ReduceMax and ReduceMin split the gradient among ties", "[gradcheck][reduction]") {
  // Rows: a unique extreme; the maximum and the minimum twice each; everything equal.
  const Tensor x = doubles({3, 4}, {1, 5, 2, 3, 4, 0, 4, 0, 2, 2, 2, 2});
  const Tensor dy = doubles({3}, {1.0, 2.0, 4.0});
  const std::vector<ir::Attribute> attrs = {attr_ints("axes", {1}), attr_i("keepdims", 0)};
  CHECK(values(gradient_of("ReduceMax", x, dy, attrs, 13)) == std::vector<double>{0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1});
  CHECK(values(gradient_of("ReduceMin", x, dy, attrs, 13)) == std::vector<double>{1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1});
}

TEST_CASE("CumSum and TopK gradients", "[gradcheck][reduction]") {
  uint64_t seed = 200;
  for (int64_t axis : {int64_t{0}, int64_t{1}, int64_t{-1}}) {
    for (int64_t exclusive : {int64_t{0}, int64_t{1}}) {
      for (int64_t reverse : {int64_t{0}, int64_t{1}}) {
        INFO("CumSum axis " << axis << " exclusive " << exclusive << " reverse " << reverse);
        CHECK(test::gradcheck("CumSum", {GradInput::data(test::random_doubles(kShape, ++seed)), GradInput::fixed(test::int64s({}, {axis}))},
                              {attr_i("exclusive", exclusive), attr_i("reverse", reverse)}, at(14)) == "");
      }
    }
  }
  // TopK: values and indices outputs; the loss reads only the float one.
  for (int64_t largest : {int64_t{1}, int64_t{0}}) {
    for (int64_t axis : {int64_t{-1}, int64_t{1}}) {
      INFO("TopK largest " << largest << " axis " << axis);
      CHECK(test::gradcheck("TopK", {GradInput::data(test::random_doubles(kShape, ++seed)), GradInput::fixed(test::int64s({1}, {2}))},
                            {attr_i("axis", axis), attr_i("largest", largest)}, at(11, 2)) == "");
    }
  }
  // Opset 9: k as an attribute.
  CHECK(test::gradcheck("TopK", {GradInput::data(test::random_doubles(kShape, ++seed))}, {attr_i("k", 3)}, at(9, 2)) ==
        "");
}
