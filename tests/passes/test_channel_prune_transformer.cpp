// prune-channels on transformer-style graphs: MatMul by a constant [K, N] matrix produces channels
// on its output's last axis (a Linear over [B, T, K]); the hidden units of an MLP block (MatMul +
// Add bias -> GELU -> MatMul + Add) are cut from the first weight's columns, the bias and the second
// weight's rows; Transpose carries channels between NCHW and channels-last (convnext). Units whose
// weights are exactly zero leave the outputs unchanged (GELU(0) = Relu(0) = 0).
#include <algorithm>
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "ir/graph_builder.h"
#include "ir/verifier.h"
#include "kernels/exec/executor.h"
#include "onnx_io/model_io.h"
#include "passes/prune/channel_prune.h"
#include "support/tolerance.h"

namespace scalec {
namespace {

using ir::GraphBuilder;
using passes::ChannelPruneLayer;
using passes::ChannelPruneOptions;
using passes::ChannelPruneReport;

ir::Tensor random_tensor(std::vector<int64_t> dims, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return ir::Tensor::from_floats(std::move(dims), v);
}

ir::Model new_model() {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", 17}};
  m.graph = std::make_unique<ir::Graph>("g");
  return m;
}

ir::Value* scalar(GraphBuilder& b, const std::string& name, float v) {
  return b.initializer(name, ir::Tensor::from_floats({}, std::vector<float>{v}));
}

// x [.., K] -> MatMul W [K, N] -> Add bias [N]: a Linear layer as PyTorch exports it.
ir::Value* linear(GraphBuilder& b, ir::Value* x, const std::string& name, int64_t k, int64_t n, uint32_t seed) {
  ir::Value* y = b.op("MatMul", {x, b.initializer(name + ".weight", random_tensor({k, n}, seed))});
  b.last_node()->name = name;
  return b.op("Add", {b.initializer(name + ".bias", random_tensor({n}, seed + 1)), y});
}

// GELU as PyTorch 1.13 exports it: x * (erf(x / sqrt 2) + 1) * 0.5.
ir::Value* erf_gelu(GraphBuilder& b, ir::Value* x) {
  ir::Value* e = b.op("Erf", {b.op("Div", {x, scalar(b, "sqrt2", 1.4142135f)})});
  ir::Value* t = b.op("Mul", {x, b.op("Add", {e, scalar(b, "one", 1.0f)})});
  return b.op("Mul", {t, scalar(b, "half", 0.5f)});
}

std::vector<float> run(const ir::Model& m, const ir::Tensor& x) {
  kernels::ExecutorOptions o;
  o.threads = 1;
  kernels::Executor ex(m, o);
  auto out = ex.run({{"x", x}});
  auto v = out.at(0).second.values<float>();
  return {v.begin(), v.end()};
}

void check_same(const std::vector<float>& got, const std::vector<float>& ref) {
  REQUIRE(got.size() == ref.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += test::near(got[i], ref[i], 1e-5, 1e-4) ? 0 : 1;
  CHECK(bad == 0);
}

ir::Tensor& weight(ir::Model& m, const std::string& name) {
  ir::Value* v = m.graph->find_value(name);
  REQUIRE(v != nullptr);
  REQUIRE(v->initializer.has_value());
  return *v->initializer;
}

// Sets entries `idx` of the last axis of a float tensor to zero (columns of [K, N], a bias [N]).
void zero_last_axis(ir::Tensor& t, const std::vector<int64_t>& idx) {
  auto v = t.mutable_values<float>();
  const int64_t n = t.shape().back();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (std::count(idx.begin(), idx.end(), i % n)) v[static_cast<size_t>(i)] = 0.0f;
  }
}

const ChannelPruneLayer& layer(const ChannelPruneReport& rep, const std::string& name) {
  auto it = std::find_if(rep.layers.begin(), rep.layers.end(), [&](const auto& l) { return l.name == name; });
  REQUIRE(it != rep.layers.end());
  return *it;
}

void check_valid(const ir::Model& m) {
  const ir::VerifyReport vr = ir::verify(m);
  INFO(vr.summary());
  CHECK(vr.ok());
  CHECK(ir::verify(onnx_io::load_model_from_bytes(onnx_io::serialize_model(m), "", "t")).ok());
}

TEST_CASE("prune-channels: a transformer MLP block loses hidden units, its residual output stays whole",
          "[prune][channel]") {
  // x [2, 5, 8] -> LayerNorm -> fc1 [8, 16] + b -> GELU (Erf) -> fc2 [16, 8] + b -> + x -> out
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 5, 8});
  ir::Value* ln = b.op("LayerNormalization", {x, b.initializer("ln.scale", random_tensor({8}, 1)),
                                              b.initializer("ln.bias", random_tensor({8}, 2))},
                       {GraphBuilder::attr("axis", int64_t{-1})});
  ir::Value* h = erf_gelu(b, linear(b, ln, "fc1", 8, 16, 3));
  ir::Value* y = b.op("Add", {linear(b, h, "fc2", 16, 8, 5), x});
  b.output(y, ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 5, 8}));
  zero_last_axis(weight(m, "fc1.weight"), {1, 6, 9, 14});
  zero_last_axis(weight(m, "fc1.bias"), {1, 6, 9, 14});
  const ir::Tensor input = random_tensor({2, 5, 8}, 7);
  const std::vector<float> before = run(m, input);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  check_same(run(m, input), before);
  check_valid(m);
  CHECK(rep.groups == 2);
  CHECK(rep.groups_pruned == 1);
  CHECK(layer(rep, "fc1").op == "MatMul");
  CHECK(layer(rep, "fc1").channels_after == 12);
  CHECK(weight(m, "fc1.weight").shape() == std::vector<int64_t>{8, 12});
  CHECK(weight(m, "fc1.bias").shape() == std::vector<int64_t>{12});
  CHECK(weight(m, "fc2.weight").shape() == std::vector<int64_t>{12, 8});
  // fc2's outputs join the block's input in the residual Add: nothing there can be cut.
  CHECK(layer(rep, "fc2").channels_after == 8);
  CHECK(layer(rep, "fc2").reason.find("Add") != std::string::npos);
  // 4 units fewer in both MatMuls over 2 x 5 tokens (the batch of 2 is static here, so counted).
  CHECK(*rep.macs_after == *rep.macs_before - 2 * 5 * 4 * (8 + 8));
}

TEST_CASE("prune-channels: a LayerNorm over the hidden units or a graph output keeps the MLP whole",
          "[prune][channel]") {
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 5, 8});
  ir::Value* h = b.op("Relu", {linear(b, x, "fc1", 8, 16, 3)});
  ir::Value* ln = b.op("LayerNormalization", {h, b.initializer("ln.scale", random_tensor({16}, 1))},
                       {GraphBuilder::attr("axis", int64_t{-1})});
  b.output(linear(b, ln, "fc2", 16, 4, 5), ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 5, 4}));
  const ir::Tensor input = random_tensor({2, 5, 8}, 7);
  const std::vector<float> before = run(m, input);

  ChannelPruneOptions o;
  o.ratio = 0.5;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  CHECK(rep.groups_pruned == 0);
  CHECK(layer(rep, "fc1").reason.find("LayerNormalization") != std::string::npos);
  CHECK(layer(rep, "fc1").kind == "LayerNormalization normalizes across the channels");
  CHECK(layer(rep, "fc2").reason.find("graph output") != std::string::npos);
  CHECK(run(m, input) == before);
}

// x [2, 5, 8] -> fc1 [8, 16] -> Relu -> h -> fc2 [16, 8] -> Reshape to Concat(Shape(h)[index], -1) -> out
ir::Model mlp_with_shape_of_hidden(int64_t index) {
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 5, 8});
  ir::Value* h = b.op("Relu", {linear(b, x, "fc1", 8, 16, 3)});
  ir::Value* dim = b.op("Gather", {b.op("Shape", {h}), b.initializer("index", ir::Tensor::from_int64s({1}, std::vector<int64_t>{index}))});
  ir::Value* to = b.op("Concat", {dim, b.initializer("rest", ir::Tensor::from_int64s({1}, std::vector<int64_t>{-1}))},
                       {GraphBuilder::attr("axis", int64_t{0})});
  b.output(b.op("Reshape", {linear(b, h, "fc2", 16, 8, 5), to}), ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 40}));
  zero_last_axis(weight(m, "fc1.weight"), {0, 1, 2, 3});
  zero_last_axis(weight(m, "fc1.bias"), {0, 1, 2, 3});
  return m;
}

TEST_CASE("prune-channels: a Shape read of the batch dim lets hidden units go, of the unit count blocks them",
          "[prune][channel]") {
  const ir::Tensor input = random_tensor({2, 5, 8}, 7);
  ChannelPruneOptions o;
  o.ratio = 0.25;
  ir::Model batch = mlp_with_shape_of_hidden(0);
  const std::vector<float> before = run(batch, input);
  passes::prune_channels(batch, o);
  check_same(run(batch, input), before);
  check_valid(batch);
  CHECK(weight(batch, "fc1.weight").shape() == std::vector<int64_t>{8, 12});

  ir::Model units = mlp_with_shape_of_hidden(-1);
  const ChannelPruneReport rep = passes::prune_channels(units, o);
  CHECK(rep.groups_pruned == 0);
  CHECK(layer(rep, "fc1").kind == "Shape reads the channel count");
  CHECK(weight(units, "fc1.weight").shape() == std::vector<int64_t>{8, 16});
}

TEST_CASE("prune-channels: Transpose carries a Conv's channels to channels-last MatMuls and back (convnext)",
          "[prune][channel]") {
  // x [1, 3, 4, 4] -> Conv c1 (8) -> Transpose to NHWC -> fc1 [8, 16] + b -> Relu -> fc2 [16, 8] + b
  //   -> Transpose to NCHW -> Conv c2 (8 -> 4) -> out
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{1, 3, 4, 4});
  auto conv1x1 = [&](ir::Value* in, const std::string& name, int64_t cin, int64_t cout, uint32_t seed) {
    ir::Value* y = b.op("Conv", {in, b.initializer(name + ".weight", random_tensor({cout, cin, 1, 1}, seed)),
                                 b.initializer(name + ".bias", random_tensor({cout}, seed + 1))});
    b.last_node()->name = name;
    return y;
  };
  ir::Value* nhwc = b.op("Transpose", {conv1x1(x, "c1", 3, 8, 1)}, {GraphBuilder::attr("perm", std::vector<int64_t>{0, 2, 3, 1})});
  ir::Value* h = b.op("Relu", {linear(b, nhwc, "fc1", 8, 16, 3)});
  ir::Value* nchw = b.op("Transpose", {linear(b, h, "fc2", 16, 8, 5)}, {GraphBuilder::attr("perm", std::vector<int64_t>{0, 3, 1, 2})});
  b.output(conv1x1(nchw, "c2", 8, 4, 9), ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{1, 4, 4, 4}));
  // Zero channels of c1 (its weight rows and bias) and hidden units of fc1; fc2's outputs: its columns.
  ir::Tensor& c1 = weight(m, "c1.weight");
  for (int64_t c : {0, 5}) std::fill_n(c1.mutable_values<float>().begin() + c * 3, 3, 0.0f);
  zero_last_axis(weight(m, "c1.bias"), {0, 5});
  zero_last_axis(weight(m, "fc1.weight"), {2, 3, 10, 11});
  zero_last_axis(weight(m, "fc1.bias"), {2, 3, 10, 11});
  zero_last_axis(weight(m, "fc2.weight"), {4, 7});
  zero_last_axis(weight(m, "fc2.bias"), {4, 7});
  const ir::Tensor input = random_tensor({1, 3, 4, 4}, 7);
  const std::vector<float> before = run(m, input);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  check_same(run(m, input), before);
  check_valid(m);
  CHECK(rep.groups_pruned == 3);
  CHECK(weight(m, "c1.weight").shape() == std::vector<int64_t>{6, 3, 1, 1});
  CHECK(weight(m, "fc1.weight").shape() == std::vector<int64_t>{6, 12});
  CHECK(weight(m, "fc2.weight").shape() == std::vector<int64_t>{12, 6});
  CHECK(weight(m, "fc2.bias").shape() == std::vector<int64_t>{6});
  CHECK(weight(m, "c2.weight").shape() == std::vector<int64_t>{4, 6, 1, 1});
}

}  // namespace
}  // namespace scalec
