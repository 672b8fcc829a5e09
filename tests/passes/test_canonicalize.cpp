// canonicalize: third-party-style exports (weights as Constant nodes, no value_info) come out like
// the PyTorch export they were made from: same initializers, same outputs, verified; folding stops
// where it must (graph outputs, random ops, huge outputs) and subgraphs survive.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "ir/graph_builder.h"
#include "ir/verifier.h"
#include "kernels/exec/executor.h"
#include "onnx_io/model_io.h"
#include "passes/cleanup/canonicalize.h"
#include "support/seeded_tensors.h"
#include "support/test_support.h"

using namespace scalec;

namespace {

// Rewrites `m` as Paddle2ONNX or tf2onnx would write it: every initializer that is not a graph
// input becomes a Constant node of the same name, and no intermediate value records a type.
void to_third_party_style(ir::Model& m) {
  ir::Graph& g = *m.graph;
  const ir::Node* first = g.nodes().empty() ? nullptr : g.nodes().front().get();
  std::vector<ir::Value*> weights;
  for (ir::Value* v : g.initializers) {
    if (std::find(g.inputs.begin(), g.inputs.end(), v) == g.inputs.end()) weights.push_back(v);
  }
  for (ir::Value* v : weights) {
    ir::Tensor t = *v->initializer;
    v->initializer.reset();
    std::erase(g.initializers, v);
    g.insert_node_before(first, "Constant", {}, {v})->set_attribute(ir::GraphBuilder::attr("value", std::move(t)));
  }
  for (const auto& v : g.values()) {
    const bool io = std::count(g.inputs.begin(), g.inputs.end(), v.get()) || std::count(g.outputs.begin(), g.outputs.end(), v.get());
    if (!io) v->type.reset();
  }
}

size_t count_op(const ir::Graph& g, const std::string& op) {
  return static_cast<size_t>(std::count_if(g.nodes().begin(), g.nodes().end(), [&](const auto& n) { return n->op_type() == op; }));
}

std::set<std::string> initializer_names(const ir::Graph& g) {
  std::set<std::string> names;
  for (const ir::Value* v : g.initializers) names.insert(v->name());
  return names;
}

// Seeded feeds for every graph input (symbolic dims = 2; integer inputs are small indices).
kernels::NamedTensors feeds_for(const ir::Model& m) {
  kernels::NamedTensors feeds;
  uint32_t seed = 7;
  for (const ir::Value* v : m.graph->inputs) {
    if (v->initializer) continue;
    std::vector<int64_t> shape;
    for (const ir::Dim& d : *v->type->shape) shape.push_back(d.value ? *d.value : 2);
    if (v->type->dtype() == ir::DType::kInt64) {
      ir::Tensor t = ir::Tensor::from_int64s(shape, std::vector<int64_t>(static_cast<size_t>(ir::Tensor(ir::DType::kInt64, shape).numel()), 0));
      auto vals = t.mutable_values<int64_t>();
      for (size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<int64_t>(i % 5);
      feeds.emplace_back(v->name(), std::move(t));
    } else {
      feeds.emplace_back(v->name(), test::seeded_floats(shape, seed++, 1.0f));
    }
  }
  return feeds;
}

}  // namespace

TEST_CASE("canonicalize turns Constant-node exports of every test model back into initializers", "[passes][cleanup]") {
  for (const auto& path : test::test_model_files()) {
    DYNAMIC_SECTION(path.filename().string()) {
      ir::Model reference = onnx_io::load_model(path.string());
      ir::Model m = onnx_io::load_model(path.string());
      const kernels::NamedTensors feeds = feeds_for(reference);
      const kernels::NamedTensors expected = kernels::Executor(reference).run(feeds);
      to_third_party_style(m);
      REQUIRE(m.graph->initializers.empty());
      const std::vector<ir::Value*> inputs = m.graph->inputs, outputs = m.graph->outputs;
      const auto metadata = m.metadata_props;

      const passes::CanonicalizeStats s = passes::canonicalize(m);
      CHECK(s.constants > 0);
      CHECK(s.shapes_recorded > 0);
      CHECK(count_op(*m.graph, "Constant") == 0);
      passes::canonicalize(reference);  // its own Constant nodes (shape constants) move too
      CHECK(initializer_names(*m.graph) == initializer_names(*reference.graph));
      CHECK(m.graph->inputs == inputs);
      CHECK(m.graph->outputs == outputs);
      CHECK(m.metadata_props == metadata);
      CHECK(ir::verify(m).ok());
      const kernels::NamedTensors got = kernels::Executor(m).run(feeds);
      REQUIRE(got.size() == expected.size());
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].first == expected[i].first);
        CHECK(got[i].second.equals(expected[i].second));
      }
      // A fixed point: a second run finds nothing to do.
      CHECK(!passes::canonicalize(m).changed_graph());
    }
  }
}

TEST_CASE("canonicalize folds constant chains with scalec's kernels and drops dead code", "[passes][cleanup]") {
  ir::Model m = test::empty_model(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, {ir::Dim::named("batch"), ir::Dim::of(4)});
  ir::Value* w = b.op("Constant", {}, {ir::GraphBuilder::attr("value", test::seeded_floats({3, 4}, 3, 1.0f))});
  ir::Value* wt = b.op("Transpose", {w});
  ir::Value* y = b.op("MatMul", {x, wt});
  ir::Value* shape = b.op("Constant", {}, {ir::GraphBuilder::attr("value", ir::Tensor::from_int64s({2}, std::vector<int64_t>{-1, 3}))});
  ir::Value* r = b.op("Reshape", {y, shape});
  b.op("Relu", {x});                                                  // dead
  b.initializer("junk", test::seeded_floats({5}, 4, 1.0f));          // unread
  b.output(r);
  m.metadata_props = {{"author", "someone"}};
  const kernels::NamedTensors feeds = {{"x", test::seeded_floats({2, 4}, 5, 1.0f)}};
  const ir::Tensor expected = kernels::Executor(m).run(feeds).front().second;
  const std::string wt_name = wt->name(), y_name = y->name();

  const std::string summary = passes::Canonicalize().run(m);
  CHECK(summary ==
        "canonicalize: 2 Constant nodes -> initializers, 1 node folded, 1 dead node and 2 unused initializers removed, "
        "2 shapes recorded");  // the MatMul output, and the graph output that recorded no type
  CHECK(m.graph->nodes().size() == 2);  // MatMul, Reshape
  CHECK(initializer_names(*m.graph) == std::set<std::string>{wt_name, shape->name()});
  REQUIRE(m.graph->find_value(wt_name)->initializer);
  CHECK(m.graph->find_value(wt_name)->initializer->shape() == std::vector<int64_t>{4, 3});
  // The MatMul output's type is recorded with the symbolic batch kept.
  const ir::Value* yv = m.graph->find_value(y_name);
  REQUIRE(yv->type);
  CHECK(yv->type->shape == std::vector<ir::Dim>{ir::Dim::named("batch"), ir::Dim::of(3)});
  REQUIRE(m.graph->outputs.front()->type);
  CHECK(m.graph->outputs.front()->type->dtype() == ir::DType::kFloat);
  CHECK(m.graph->inputs.front()->type->shape == std::vector<ir::Dim>{ir::Dim::named("batch"), ir::Dim::of(4)});
  CHECK(m.metadata_props == std::vector<std::pair<std::string, std::string>>{{"author", "someone"}});
  CHECK(ir::verify(m).ok());
  CHECK(kernels::Executor(m).run(feeds).front().second.equals(expected));
}

TEST_CASE("canonicalize keeps a weight shared through Identity nodes one initializer", "[passes][cleanup]") {
  // PyTorch exports a parameter two layers share as Identity nodes of one initializer; folding each
  // Identity into its own copy made quantized and finetuned outputs larger than their input.
  ir::Model m = test::empty_model(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, {ir::Dim::named("batch"), ir::Dim::of(4)});
  ir::Value* w = b.initializer("shared", test::seeded_floats({4, 4}, 3, 1.0f));
  ir::Value* y = b.op("MatMul", {x, b.op("Identity", {w})});
  ir::Value* z = b.op("MatMul", {y, b.op("Identity", {w})});
  b.output(z);
  const kernels::NamedTensors feeds = {{"x", test::seeded_floats({2, 4}, 5, 1.0f)}};
  const ir::Tensor expected = kernels::Executor(m).run(feeds).front().second;

  passes::Canonicalize().run(m);
  CHECK(count_op(*m.graph, "Identity") == 0);
  CHECK(initializer_names(*m.graph) == std::set<std::string>{"shared"});
  for (const auto& n : m.graph->nodes()) CHECK(n->input(1)->name() == "shared");
  CHECK(ir::verify(m).ok());
  CHECK(kernels::Executor(m).run(feeds).front().second.equals(expected));
}

TEST_CASE("canonicalize keeps graph outputs, random ops, overridable inputs and huge outputs as nodes", "[passes][cleanup]") {
  ir::Model m = test::empty_model(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{3});
  // A graph output produced by a Constant keeps its producer.
  ir::Value* c = b.op("Constant", {}, {ir::GraphBuilder::attr("value", test::seeded_floats({3}, 1, 1.0f))});
  b.output(c);
  // RandomUniform draws anew on every run.
  ir::Value* rnd = b.op("RandomUniform", {}, {ir::GraphBuilder::attr("shape", std::vector<int64_t>{3})});
  b.output(b.op("Add", {x, rnd}));
  // 4096 x 4096 x 2 floats = 128 MB: stays a ConstantOfShape node.
  ir::Value* big_shape = b.op("Constant", {}, {ir::GraphBuilder::attr("value", ir::Tensor::from_int64s({3}, std::vector<int64_t>{4096, 4096, 2}))});
  ir::Value* big = b.op("ConstantOfShape", {big_shape});
  b.output(b.op("ReduceSum", {big}, {ir::GraphBuilder::attr("keepdims", int64_t{0})}));
  // An initializer that is also a graph input can be fed at run time: not a constant.
  ir::Value* bias = b.initializer("bias", test::seeded_floats({3}, 2, 1.0f));
  m.graph->inputs.push_back(bias);
  b.output(b.op("Neg", {bias}));

  const passes::CanonicalizeStats s = passes::canonicalize(m);
  CHECK(s.constants == 1);  // only big_shape
  CHECK(s.folded == 0);
  CHECK(count_op(*m.graph, "Constant") == 1);
  CHECK(count_op(*m.graph, "RandomUniform") == 1);
  CHECK(count_op(*m.graph, "ConstantOfShape") == 1);
  CHECK(count_op(*m.graph, "Neg") == 1);
  CHECK(m.graph->find_value(big_shape->name())->initializer);
  CHECK(ir::verify(m).ok());
}

TEST_CASE("canonicalize cleans If branches and keeps them valid", "[passes][cleanup]") {
  ir::Model m = test::empty_model(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* cond = b.input("cond", ir::DType::kBool, std::vector<int64_t>{});
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2});
  ir::Value* outer = b.initializer("outer", test::seeded_floats({2}, 9, 1.0f));
  auto branch = [&](const std::string& name, bool with_constant) {
    auto g = std::make_shared<ir::Graph>(name, m.graph.get());
    ir::GraphBuilder sb(*g);
    ir::Value* y = x;
    if (with_constant) {
      ir::Value* k = sb.op("Constant", {}, {ir::GraphBuilder::attr("value", test::seeded_floats({2}, 10, 1.0f))});
      ir::Value* k2 = sb.op("Mul", {k, outer});  // constant: folds inside the branch
      y = sb.op("Add", {x, k2});
      sb.op("Relu", {x});  // dead
    } else {
      y = sb.op("Sub", {x, outer});
    }
    sb.output(y, ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2}));
    ir::Attribute a;
    a.name = name;
    a.kind = ir::Attribute::Kind::kGraph;
    a.g = g;
    return a;
  };
  b.output(b.op("If", {cond}, {branch("then_branch", true), branch("else_branch", false)}));

  const passes::CanonicalizeStats s = passes::canonicalize(m);
  CHECK(s.constants == 1);
  CHECK(s.folded == 1);
  CHECK(s.dead_nodes == 1);
  CHECK(count_op(*m.graph, "If") == 1);
  const ir::Graph& then_g = *m.graph->nodes().front()->attribute("then_branch")->g;
  CHECK(then_g.nodes().size() == 1);  // the Add
  CHECK(then_g.initializers.size() == 1);
  CHECK(m.graph->find_value("outer")->initializer);  // still read by both branches
  CHECK(ir::verify(m).ok());
  test::TempDir dir;
  onnx_io::save_model(m, (dir / "if.onnx").string());
  CHECK(ir::verify(onnx_io::load_model((dir / "if.onnx").string())).ok());
}
