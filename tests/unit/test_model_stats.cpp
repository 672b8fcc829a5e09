// ir/model_stats: parameter and byte counts (DESIGN.md definitions), weight statistics, op histogram.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "ir/model_stats.h"
#include "support/tolerance.h"

using namespace scalec::ir;
using scalec::test::near;

namespace {
const WeightStats* find_weight(const ModelStats& s, const std::string& name) {
  for (const auto& w : s.weights) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

Attribute floats_attr(const std::string& name, std::vector<float> v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kFloats;
  a.floats = std::move(v);
  return a;
}
}  // namespace

TEST_CASE("parameters count float initializers and float Constants, bytes count every stored tensor", "[stats]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{4});
  b.initializer("w", Tensor(DType::kFloat, {3, 4}));                         // 12 params, 48 B
  b.initializer("h", Tensor(DType::kFloat16, {5}));                          // 5 params, 10 B
  std::vector<int64_t> shape = {1, 4};
  b.initializer("shape", Tensor::from_int64s({2}, shape));                   // 0 params, 16 B
  b.initializer("q", Tensor(DType::kInt4, {3}));                             // 0 params, 2 B
  Value* k1 = b.op("Constant", {}, {GraphBuilder::attr("value", Tensor(DType::kFloat, {2, 2}))});  // 4, 16 B
  Value* k2 = b.op("Constant", {}, {GraphBuilder::attr("value_float", 2.5f)});   // 1 param, 4 B
  Value* k3 = b.op("Constant", {}, {floats_attr("value_floats", {1, 2, 3})});    // 3 params, 12 B
  Value* k4 = b.op("Constant", {}, {GraphBuilder::attr("value_int", int64_t{7})});  // 0 params, 8 B
  b.output(b.op("Add", {x, k1}));

  ModelStats s = compute_model_stats(g);
  CHECK(s.parameters == 12 + 5 + 4 + 1 + 3);
  CHECK(s.bytes == 48 + 10 + 16 + 2 + 16 + 4 + 12 + 8);
  CHECK(s.weights.size() == 8);

  const WeightStats* k = find_weight(s, k2->name());
  REQUIRE(k != nullptr);
  CHECK(k->from_constant);
  CHECK(k->is_parameter);
  CHECK(k->numel == 1);
  CHECK(k->shape.empty());
  CHECK(k->max == 2.5);
  REQUIRE(find_weight(s, k3->name()) != nullptr);
  CHECK(find_weight(s, k3->name())->shape == std::vector<int64_t>{3});
  REQUIRE(find_weight(s, k4->name()) != nullptr);
  CHECK_FALSE(find_weight(s, k4->name())->is_parameter);
  const WeightStats* sh = find_weight(s, "shape");
  REQUIRE(sh != nullptr);
  CHECK_FALSE(sh->from_constant);
  CHECK_FALSE(sh->is_parameter);
  CHECK(sh->bytes == 16);
  CHECK(find_weight(s, k1->name())->is_parameter);
}

TEST_CASE("subgraph initializers and Constants are counted", "[stats][subgraph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* c = b.input("c", DType::kBool, std::vector<int64_t>{});
  b.initializer("outer_w", Tensor(DType::kFloat, {2}));
  Node* n = g.add_node("If", {c}, {g.create_value("out")});
  auto body = std::make_shared<Graph>("then", &g);
  GraphBuilder bb(*body);
  Value* inner_w = bb.initializer("inner_w", Tensor(DType::kFloat, {3, 3}));
  body->outputs.push_back(bb.op("Relu", {inner_w}));
  Attribute a;
  a.name = "then_branch";
  a.kind = Attribute::Kind::kGraph;
  a.g = body;
  n->set_attribute(std::move(a));

  ModelStats s = compute_model_stats(g);
  CHECK(s.parameters == 2 + 9);
  CHECK(s.bytes == (2 + 9) * 4);
  CHECK(find_weight(s, "inner_w") != nullptr);
  CHECK(s.nodes == 2);
  CHECK(s.op_histogram.at("If") == 1);
  CHECK(s.op_histogram.at("Relu") == 1);
}

TEST_CASE("weight statistics on a known tensor", "[stats]") {
  Graph g("main");
  GraphBuilder b(g);
  std::vector<float> v = {0.0f, -3.0f, 1.5f, 0.0f, 2.0f, -0.5f, 0.0f, 4.0f};
  b.initializer("w", Tensor::from_floats({2, 4}, v));
  ModelStats s = compute_model_stats(g);
  REQUIRE(s.weights.size() == 1);
  const WeightStats& w = s.weights[0];
  CHECK(w.has_values);
  CHECK(w.numel == 8);
  CHECK(w.bytes == 32);
  CHECK(near(w.sparsity, 3.0 / 8.0));
  CHECK(w.min == -3.0);
  CHECK(w.max == 4.0);
  CHECK(near(w.mean_abs, 11.0 / 8.0));
}

TEST_CASE("weight statistics for int4 and for types with no numeric reading", "[stats]") {
  Graph g("main");
  GraphBuilder b(g);
  Tensor q(DType::kInt4, {3});
  q.mutable_bytes()[0] = std::byte{0x8F};  // [-1, -8]
  q.mutable_bytes()[1] = std::byte{0x03};  // [3]
  b.initializer("q", q);
  b.initializer("f8", Tensor(DType::kFloat8E4M3FN, {4}));
  ModelStats s = compute_model_stats(g);
  const WeightStats* wq = find_weight(s, "q");
  REQUIRE(wq != nullptr);
  CHECK(wq->has_values);
  CHECK(wq->min == -8.0);
  CHECK(wq->max == 3.0);
  CHECK(near(wq->mean_abs, 4.0));
  const WeightStats* w8 = find_weight(s, "f8");
  REQUIRE(w8 != nullptr);
  CHECK(w8->is_parameter);  // float8 counts as parameters
  CHECK_FALSE(w8->has_values);
  CHECK(s.parameters == 4);
}

TEST_CASE("op_histogram keys custom-domain ops by domain", "[stats]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  Value* r = b.op("Relu", {x});
  Value* r2 = b.op("Relu", {r});
  g.add_node("Foo", {r2}, {g.create_value("foo")}, "com.x");
  g.add_node("Relu", {x}, {g.create_value("r3")}, "ai.onnx");
  ModelStats s = compute_model_stats(g);
  CHECK(s.nodes == 4);
  CHECK(s.op_histogram.at("Relu") == 3);
  CHECK(s.op_histogram.at("com.x::Foo") == 1);
  CHECK(s.op_histogram.count("Foo") == 0);
  CHECK(s.parameters == 0);
  CHECK(s.bytes == 0);
}
