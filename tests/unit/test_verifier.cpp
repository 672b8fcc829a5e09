// ir/verifier: structural errors, recorded types against data, warnings, and model-level checks.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "ir/verifier.h"

using namespace scalec::ir;

namespace {
// True when some error message contains every one of `parts`.
bool has_error(const VerifyReport& r, std::initializer_list<std::string> parts) {
  for (const auto& e : r.errors) {
    bool all = true;
    for (const auto& p : parts) all = all && e.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

// x -> Relu -> y, a graph output; the smallest valid graph.
Value* build_relu(Graph& g) {
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2, 3});
  Value* y = b.op("Relu", {x});
  b.output(y);
  return x;
}

std::shared_ptr<Graph> attach_branch(Node* n, Graph* parent) {
  auto body = std::make_shared<Graph>("then", parent);
  Attribute a;
  a.name = "then_branch";
  a.kind = Attribute::Kind::kGraph;
  a.g = body;
  n->set_attribute(std::move(a));
  return body;
}

Model model_with_opsets(std::vector<OpsetImport> opsets) {
  Model m;
  m.ir_version = 8;
  m.opset_imports = std::move(opsets);
  m.graph = std::make_unique<Graph>("main");
  build_relu(*m.graph);
  return m;
}
}  // namespace

TEST_CASE("a well-formed graph verifies clean", "[verifier]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, {Dim::named("N"), Dim::of(4)});
  Value* w = b.initializer("w", Tensor(DType::kFloat, {4, 4}));
  w->type = TypeInfo::tensor(DType::kFloat, std::vector<int64_t>{4, 4});
  b.output(b.op("MatMul", {x, w}));
  VerifyReport r = verify(g);
  CHECK(r.ok());
  CHECK(r.errors.empty());
  CHECK(r.warnings.empty());
}

TEST_CASE("a value nothing defines is an error", "[verifier]") {
  Graph g("main");
  build_relu(g);
  Value* ghost = g.create_value("ghost");
  g.add_node("Neg", {ghost}, {g.create_value("z")});
  VerifyReport r = verify(g);
  CHECK_FALSE(r.ok());
  CHECK(has_error(r, {"ghost", "no node, input or initializer"}));
}

TEST_CASE("a cycle is an error", "[verifier]") {
  Graph g("main");
  Value* a = g.create_value("a");
  Value* b = g.create_value("b");
  g.add_node("Relu", {b}, {a})->name = std::string("P");
  g.add_node("Neg", {a}, {b})->name = std::string("Q");
  VerifyReport r = verify(g);
  CHECK(has_error(r, {"cycle"}));
}

TEST_CASE("names must be defined once", "[verifier]") {
  SECTION("two node outputs with the same name") {
    Graph g("main");
    Value* x = build_relu(g);
    g.add_node("Neg", {x}, {g.create_value("dup")});
    g.add_node("Abs", {x}, {g.create_value("dup")});
    CHECK(has_error(verify(g), {"duplicate name 'dup'"}));
  }
  SECTION("a node output named like a graph input") {
    Graph g("main");
    Value* x = build_relu(g);
    g.add_node("Neg", {x}, {g.create_value("x")});
    CHECK(has_error(verify(g), {"duplicate name 'x'", "graph input"}));
  }
  SECTION("an initializer that is also a graph input is its default, not a clash") {
    Graph g("main");
    Value* x = build_relu(g);
    Value* w = g.add_initializer("w", Tensor(DType::kFloat, {3}));
    g.inputs.push_back(w);
    g.add_node("Add", {x, w}, {g.create_value("s")});
    CHECK(verify(g).ok());
  }
}

TEST_CASE("subgraphs may read enclosing values but not unrelated graphs", "[verifier][subgraph]") {
  Graph other("other");  // declared first: g's subgraph holds a use of its value until g dies
  Value* foreign = other.create_value("foreign");
  other.inputs.push_back(foreign);
  Graph g("main");
  GraphBuilder b(g);
  Value* c = b.input("c", DType::kBool, std::vector<int64_t>{});
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  Node* if_node = g.add_node("If", {c}, {g.create_value("out")});
  b.output(if_node->output(0));
  auto body = attach_branch(if_node, &g);
  Value* t = body->create_value("t");
  body->add_node("Neg", {x}, {t});
  body->outputs.push_back(t);
  CHECK(verify(g).ok());

  body->add_node("Abs", {foreign}, {body->create_value("u")});
  CHECK(has_error(verify(g), {"foreign", "does not enclose"}));
}

TEST_CASE("an undefined graph output is an error", "[verifier]") {
  Graph g("main");
  build_relu(g);
  g.outputs.push_back(g.create_value("nowhere"));
  CHECK(has_error(verify(g), {"output 'nowhere' is not defined"}));
}

TEST_CASE("an initializer's recorded type must agree with its data", "[verifier][types]") {
  Graph g("main");
  build_relu(g);
  Value* w = g.add_initializer("w", Tensor(DType::kFloat, {4, 8}));
  SECTION("matching numeric dims") {
    w->type = TypeInfo::tensor(DType::kFloat, std::vector<int64_t>{4, 8});
    CHECK(verify(g).ok());
  }
  SECTION("symbolic dims match anything") {
    w->type = TypeInfo::tensor(DType::kFloat, {Dim::named("O"), Dim::of(8)});
    CHECK(verify(g).ok());
  }
  SECTION("other dtype") {
    w->type = TypeInfo::tensor(DType::kFloat16, std::vector<int64_t>{4, 8});
    CHECK(has_error(verify(g), {"initializer 'w'", "float16[4, 8]"}));
  }
  SECTION("other numeric dim") {
    w->type = TypeInfo::tensor(DType::kFloat, std::vector<int64_t>{4, 9});
    CHECK(has_error(verify(g), {"initializer 'w'", "float[4, 9]"}));
  }
  SECTION("other rank") {
    w->type = TypeInfo::tensor(DType::kFloat, std::vector<int64_t>{32});
    CHECK_FALSE(verify(g).ok());
  }
}

TEST_CASE("a Constant's recorded output type must agree with its value", "[verifier][types]") {
  Graph g("main");
  build_relu(g);
  GraphBuilder b(g);
  Value* k = b.op("Constant", {}, {GraphBuilder::attr("value", Tensor(DType::kFloat, {2, 2}))});
  k->type = TypeInfo::tensor(DType::kFloat, std::vector<int64_t>{2, 2});
  CHECK(verify(g).ok());
  k->type = TypeInfo::tensor(DType::kFloat, std::vector<int64_t>{4});
  CHECK(has_error(verify(g), {"Constant", k->name()}));
}

TEST_CASE("duplicate node names are only a warning", "[verifier]") {
  Graph g("main");
  Value* x = build_relu(g);
  g.add_node("Neg", {x}, {g.create_value("n1")})->name = "same";
  g.add_node("Abs", {x}, {g.create_value("n2")})->name = "same";
  VerifyReport r = verify(g);
  CHECK(r.ok());
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("'same'") != std::string::npos);
}

TEST_CASE("model header: opset imports", "[verifier][model]") {
  CHECK(verify(model_with_opsets({{"", 17}})).ok());

  Model none = model_with_opsets({});
  CHECK(has_error(verify(none), {"imports no opset"}));
  none.ir_version = 2;  // IR 1-2 had no opset_import
  CHECK(verify(none).ok());

  CHECK(has_error(verify(model_with_opsets({{"", 17}, {"ai.onnx", 13}})), {"imported twice"}));
  CHECK(verify(model_with_opsets({{"", 17}, {"com.microsoft", 1}})).ok());
}

TEST_CASE("verify_or_throw raises kBadInput with the findings", "[verifier][model]") {
  Model m = model_with_opsets({{"", 17}});
  CHECK_NOTHROW(verify_or_throw(m));
  m.graph->outputs.push_back(m.graph->create_value("missing_out"));
  try {
    verify_or_throw(m);
    FAIL("verify_or_throw accepted an invalid model");
  } catch (const scalec::Error& e) {
    CHECK(e.code() == scalec::ExitCode::kBadInput);
    CHECK_THAT(e.what(), Catch::Contains("missing_out"));
  }
}
