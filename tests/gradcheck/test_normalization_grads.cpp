// Backward rules of the normalization family (kernels/ops/normalization_grads.cpp) against central
// finite differences in double: BatchNormalization in training mode (the gradcheck Executor is a
// training run) on 2-D and 4-D input, with the running/saved statistics outputs and the
// per-activation parameters of spatial=0, and in inference mode (run directly with
// RunMode{training = false}, since Executor training runs always use batch statistics);
// LayerNormalization (axes, with and without B, broadcast Scale, Mean/InvStdDev outputs);
// InstanceNormalization; GroupNormalization (per group at 18, per channel at 21 and 18);
// LpNormalization, MeanVarianceNormalization; Softmax, LogSoftmax, Hardmax in the opset 1-12 2-D
// coercion form and the 13+ one-axis form.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/exec/autodiff.h"
#include "kernels/exec/executor.h"
#include "kernels/ops/op_registry.h"
#include "support/gradcheck.h"
#include "support/tolerance.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;
using ir::GraphBuilder;
using ir::Tensor;

namespace {

// A variance-like input: positive.
Tensor positive(std::vector<int64_t> shape, uint64_t seed) { return test::random_doubles(std::move(shape), seed, 0.5, 1.5); }

// Gradient check of one node run straight through its registry entry with `mode`: the loss is
// <w, y0> for random w; inputs listed in `check` are compared with central differences.
std::string node_gradcheck(const std::string& op, int64_t opset, const std::vector<Tensor>& inputs,
                           const std::vector<size_t>& check, std::vector<ir::Attribute> attrs, kernels::RunMode mode) {
  ir::Graph g;
  GraphBuilder b(g);
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) ins.push_back(b.input(fmt::format("x{}", i), inputs[i].dtype(), inputs[i].shape()));
  b.op(op, ins, std::move(attrs));
  const ir::Node& node = *b.last_node();
  const kernels::OpDef* def = kernels::OpRegistry::instance().find("", op, opset);
  if (def == nullptr || !def->backward) return fmt::format("{} {} has no backward rule", op, opset);
  kernels::ThreadPool pool(1);
  auto forward = [&](const std::vector<Tensor>& in) {
    std::vector<const Tensor*> ptrs;
    for (const Tensor& t : in) ptrs.push_back(&t);
    return def->forward_cpu(kernels::OpContext(node, opset, ptrs, pool, mode));
  };
  const std::vector<Tensor> outs = forward(inputs);
  const Tensor w = test::random_doubles(outs[0].shape(), 99);
  auto loss = [&](const std::vector<Tensor>& in) {
    const Tensor y = forward(in)[0];
    long double l = 0;
    for (int64_t k = 0; k < y.numel(); ++k) l += static_cast<long double>(y.values<double>()[k]) * w.values<double>()[k];
    return static_cast<double>(l);
  };
  std::vector<const Tensor*> ptrs, douts(outs.size(), nullptr);
  for (const Tensor& t : inputs) ptrs.push_back(&t);
  douts[0] = &w;
  std::unique_ptr<bool[]> wants(new bool[inputs.size()]());
  for (size_t i : check) wants[i] = true;
  const kernels::OpContext fctx(node, opset, ptrs, pool, mode);
  const std::vector<Tensor> grads =
      def->backward(kernels::GradContext(fctx, outs, douts, std::span<const bool>(wants.get(), inputs.size())));
  for (size_t i : check) {
    if (grads.at(i).shape() != inputs[i].shape()) return fmt::format("input {}: gradient of the wrong shape", i);
    for (int64_t k = 0; k < inputs[i].numel(); ++k) {
      auto perturbed = [&](double delta) {
        std::vector<Tensor> in = inputs;
        Tensor copy(DType::kDouble, in[i].shape());
        std::copy(in[i].values<double>().begin(), in[i].values<double>().end(), copy.mutable_values<double>().begin());
        copy.mutable_values<double>()[k] += delta;
        in[i] = copy;
        return loss(in);
      };
      const double numeric = (perturbed(1e-6) - perturbed(-1e-6)) / 2e-6;
      const double analytic = grads[i].values<double>()[k];
      if (!test::near(analytic, numeric, 1e-7, 1e-5)) {
        return fmt::format("d/dx{}[{}]: backward {:.10g}, finite differences {:.10g}", i, k, analytic, numeric);
      }
    }
  }
  return "";
}

// BatchNormalization's five inputs for X of `shape` with `p` parameters.
std::vector<GradInput> bn_inputs(const std::vector<int64_t>& shape, const std::vector<int64_t>& p, uint64_t seed) {
  return {GradInput::data(test::random_doubles(shape, seed, -2, 2)), GradInput::data(test::random_doubles(p, seed + 1)),
          GradInput::data(test::random_doubles(p, seed + 2)), GradInput::unchecked(test::random_doubles(p, seed + 3)),
          GradInput::unchecked(positive(p, seed + 4))};
}

}  // namespace

TEST_CASE("BatchNormalization training gradients flow through the batch statistics", "[gradcheck][normalization]") {
  SECTION("4-D input, opset 15") {
    CHECK(test::gradcheck("BatchNormalization", bn_inputs({2, 3, 2, 2}, {3}, 1), {}, at(15)) == "");
  }
  SECTION("2-D input, opset 15") {
    CHECK(test::gradcheck("BatchNormalization", bn_inputs({5, 3}, {3}, 10), {}, at(15)) == "");
  }
  SECTION("3-D input with training_mode and the running statistics outputs (opset 15)") {
    CHECK(test::gradcheck("BatchNormalization", bn_inputs({3, 2, 4}, {2}, 20), {attr_i("training_mode", 1), attr_f("momentum", 0.8f)},
                          at(15, 3)) == "");
  }
  SECTION("opset 9 with the saved mean and variance outputs") {
    CHECK(test::gradcheck("BatchNormalization", bn_inputs({2, 3, 3}, {3}, 30), {attr_f("epsilon", 1e-3f)}, at(9, 5)) == "");
  }
  SECTION("opset 7 spatial=0: per-activation parameters") {
    CHECK(test::gradcheck("BatchNormalization", bn_inputs({4, 2, 3}, {2, 3}, 40), {attr_i("spatial", 0)}, at(7)) == "");
  }
}

TEST_CASE("BatchNormalization inference gradients treat mean and var as constants", "[gradcheck][normalization]") {
  const std::vector<Tensor> in = {test::random_doubles({2, 3, 2, 2}, 50, -2, 2), test::random_doubles({3}, 51),
                                  test::random_doubles({3}, 52), test::random_doubles({3}, 53), positive({3}, 54)};
  SECTION("opset 15 inference run") {
    CHECK(node_gradcheck("BatchNormalization", 15, in, {0, 1, 2}, {}, kernels::RunMode{false, 0}) == "");
  }
  SECTION("opset 9 inference run") {
    CHECK(node_gradcheck("BatchNormalization", 9, in, {0, 1, 2}, {attr_f("epsilon", 1e-2f)}, kernels::RunMode{false, 0}) == "");
  }
  SECTION("training_mode=1 outside a training run still uses the batch statistics, as the forward") {
    CHECK(node_gradcheck("BatchNormalization", 15, in, {0, 1, 2}, {attr_i("training_mode", 1)}, kernels::RunMode{false, 0}) == "");
  }
  SECTION("a training run, directly") {
    CHECK(node_gradcheck("BatchNormalization", 15, in, {0, 1, 2}, {}, kernels::RunMode{true, 0}) == "");
  }
}

TEST_CASE("LayerNormalization gradients reach X, Scale and B", "[gradcheck][normalization]") {
  const Tensor x = test::random_doubles({2, 3, 4}, 60, -2, 2);
  SECTION("last axis with bias") {
    CHECK(test::gradcheck("LayerNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({4}, 61)),
                                                 GradInput::data(test::random_doubles({4}, 62))},
                          {}, at(17)) == "");
  }
  SECTION("axis 1 without bias") {
    CHECK(test::gradcheck("LayerNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({3, 4}, 63))},
                          {attr_i("axis", 1), attr_f("epsilon", 1e-3f)}, at(17)) == "");
  }
  SECTION("axis -2 with Scale broadcast along the normalized axes and a 1-padded B") {
    CHECK(test::gradcheck("LayerNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({4}, 64)),
                                                 GradInput::data(test::random_doubles({1, 3, 1}, 65))},
                          {attr_i("axis", -2)}, at(17)) == "");
  }
  SECTION("axis 0: one row") {
    CHECK(test::gradcheck("LayerNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({2, 3, 4}, 66))},
                          {attr_i("axis", 0)}, at(17)) == "");
  }
  SECTION("Mean and InvStdDev outputs in double (stash_type 11) carry gradients too") {
    CHECK(test::gradcheck("LayerNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({4}, 67)),
                                                 GradInput::data(test::random_doubles({4}, 68))},
                          {attr_i("stash_type", 11)}, at(17, 3)) == "");
  }
}

TEST_CASE("InstanceNormalization and GroupNormalization gradients", "[gradcheck][normalization]") {
  SECTION("InstanceNormalization 4-D") {
    CHECK(test::gradcheck("InstanceNormalization", {GradInput::data(test::random_doubles({2, 3, 2, 3}, 70, -2, 2)),
                                                    GradInput::data(test::random_doubles({3}, 71)),
                                                    GradInput::data(test::random_doubles({3}, 72))},
                          {}, at(6)) == "");
  }
  SECTION("InstanceNormalization 3-D with epsilon") {
    CHECK(test::gradcheck("InstanceNormalization", {GradInput::data(test::random_doubles({2, 2, 5}, 73, -2, 2)),
                                                    GradInput::data(test::random_doubles({2}, 74)),
                                                    GradInput::data(test::random_doubles({2}, 75))},
                          {attr_f("epsilon", 1e-2f)}, at(6)) == "");
  }
  const Tensor x = test::random_doubles({2, 4, 3}, 80, -2, 2);
  SECTION("GroupNormalization 18: scale and bias per group") {
    CHECK(test::gradcheck("GroupNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({2}, 81)),
                                                 GradInput::data(test::random_doubles({2}, 82))},
                          {attr_i("num_groups", 2)}, at(18)) == "");
  }
  SECTION("GroupNormalization 21: per channel") {
    CHECK(test::gradcheck("GroupNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({4}, 83)),
                                                 GradInput::data(test::random_doubles({4}, 84))},
                          {attr_i("num_groups", 2)}, at(21)) == "");
  }
  SECTION("GroupNormalization 18 with per-channel parameters, one group") {
    CHECK(test::gradcheck("GroupNormalization", {GradInput::data(x), GradInput::data(test::random_doubles({4}, 85)),
                                                 GradInput::data(test::random_doubles({4}, 86))},
                          {attr_i("num_groups", 1)}, at(18)) == "");
  }
}

TEST_CASE("LpNormalization and MeanVarianceNormalization gradients", "[gradcheck][normalization]") {
  SECTION("Lp p=2 along the last axis") {
    CHECK(test::gradcheck("LpNormalization", {GradInput::data(test::random_doubles({2, 3, 4}, 90))}, {}, at(1)) == "");
  }
  SECTION("Lp p=1 along axis 1 (away from the kink of |x| at 0)") {
    CHECK(test::gradcheck("LpNormalization", {GradInput::data(test::random_away_from_zero({2, 3, 4}, 91))},
                          {attr_i("axis", 1), attr_i("p", 1)}, at(1)) == "");
  }
  SECTION("MVN over the default axes 0, 2, 3") {
    CHECK(test::gradcheck("MeanVarianceNormalization", {GradInput::data(test::random_doubles({2, 3, 2, 2}, 92))}, {}, at(13)) ==
          "");
  }
  SECTION("MVN over axis 1") {
    CHECK(test::gradcheck("MeanVarianceNormalization", {GradInput::data(test::random_doubles({2, 4, 3}, 93))},
                          {attr_ints("axes", {1})}, at(13)) == "");
  }
}

TEST_CASE("Softmax and LogSoftmax gradients in both axis forms", "[gradcheck][normalization]") {
  struct Case {
    int64_t opset;
    std::vector<ir::Attribute> attrs;
  };
  const std::vector<Case> cases = {
      {11, {}},                      // 2-D coercion at the default axis 1: rows of 3 x 4
      {11, {attr_i("axis", 2)}},      // coercion at the last axis
      {11, {attr_i("axis", 0)}},      // the whole tensor is one row
      {11, {attr_i("axis", -2)}},     // negative axis, coerced
      {13, {}},                      // the one axis, default -1
      {13, {attr_i("axis", 1)}},      // a middle axis (inner lanes)
      {13, {attr_i("axis", -3)}},     // the first axis
  };
  uint64_t seed = 100;
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    for (const Case& c : cases) {
      INFO(op << " opset " << c.opset << " with " << c.attrs.size() << " attributes");
      CHECK(test::gradcheck(op, {GradInput::data(test::random_doubles({2, 3, 4}, ++seed, -2, 2))}, c.attrs, at(c.opset)) == "");
    }
  }
}

TEST_CASE("Normalization rules also run in float", "[gradcheck][normalization]") {
  // Float tensors through the same rules: the gradient comes back in float, of X's shape, finite.
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 17}};
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2, 3, 4});
  const std::vector<float> ones3(3, 1.0f), zeros3(3, 0.0f), ones4(4, 1.0f);
  ir::Value* z = b.initializer("z", Tensor::from_floats({3}, zeros3));
  ir::Value* bn = b.op("BatchNormalization", {x, b.initializer("s", Tensor::from_floats({3}, ones3)), z, z,
                                              b.initializer("v", Tensor::from_floats({3}, ones3))});
  ir::Value* ln = b.op("LayerNormalization", {bn, b.initializer("g", Tensor::from_floats({4}, ones4))});
  ir::Value* y = b.op("LogSoftmax", {ln}, {attr_i("axis", 1)});
  b.output(y);
  kernels::ExecutorOptions eo;
  eo.training = true;
  kernels::Executor exec(m, eo);
  kernels::Autodiff ad(m, {x});
  std::vector<float> xs(24), w(24, 0.5f);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i % 7) - 3.0f;
  w[3] = 2.0f;
  exec.run({{"x", Tensor::from_floats({2, 3, 4}, xs)}});
  const std::vector<Tensor> g = ad.backward(exec, {{y->name(), Tensor::from_floats({2, 3, 4}, w)}});
  REQUIRE(g.size() == 1);
  REQUIRE(g[0].dtype() == DType::kFloat);
  CHECK(g[0].shape() == std::vector<int64_t>{2, 3, 4});
  for (float v : g[0].values<float>()) CHECK(std::isfinite(v));
}
