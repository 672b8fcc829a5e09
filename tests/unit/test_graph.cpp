// ir/graph: use lists under edits, node removal and insertion, topological order, subgraph scopes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "ir/graph_edit.h"
#include "ir/node_attrs.h"

using namespace scalec::ir;

namespace {
bool has_use(const Value* v, const Node* n, size_t index) {
  return std::find(v->uses().begin(), v->uses().end(), Use{const_cast<Node*>(n), index}) != v->uses().end();
}

std::vector<std::string> names(const std::vector<Node*>& nodes) {
  std::vector<std::string> out;
  for (const Node* n : nodes) out.push_back(n->name);
  return out;
}

std::vector<std::string> stored_names(const Graph& g) {
  std::vector<std::string> out;
  for (const auto& n : g.nodes()) out.push_back(n->name);
  return out;
}

Node* add_named(Graph& g, const std::string& name, const std::string& op, const std::vector<Value*>& in,
                const std::vector<Value*>& out) {
  Node* n = g.add_node(op, in, out);
  n->name = name;
  return n;
}

// Adds an If-style node to `outer` whose "then_branch" subgraph has one Identity node reading
// `outer_value`; returns the subgraph.
std::shared_ptr<Graph> add_if_reading(Graph& outer, Value* cond, Value* outer_value, const std::string& name) {
  auto body = std::make_shared<Graph>(name + "_then", &outer);
  Value* t = body->create_value(name + "_t");
  add_named(*body, name + "_id", "Identity", {outer_value}, {t});
  body->outputs.push_back(t);
  Node* n = add_named(outer, name, "If", {cond}, {outer.create_value(name + "_out")});
  Attribute a;
  a.name = "then_branch";
  a.kind = Attribute::Kind::kGraph;
  a.g = body;
  n->set_attribute(std::move(a));
  return body;
}
}  // namespace

TEST_CASE("builder records producers and uses, and set_input moves a use", "[graph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  Value* r = b.op("Relu", {x});
  Node* relu = b.last_node();
  Value* s = b.op("Add", {r, x});
  Node* add = b.last_node();
  CHECK(r->producer() == relu);
  CHECK(s->producer() == add);
  CHECK(x->producer() == nullptr);
  CHECK(x->uses().size() == 2);
  CHECK(has_use(x, relu, 0));
  CHECK(has_use(x, add, 1));

  add->set_input(0, x);
  CHECK(r->uses().empty());
  CHECK(x->uses().size() == 3);
  CHECK(has_use(x, add, 0));
  add->set_input(1, nullptr);  // an omitted optional input
  CHECK(add->input(1) == nullptr);
  CHECK_FALSE(has_use(x, add, 1));
}

TEST_CASE("replace_all_uses rewires nodes, graph outputs and subgraph reads", "[graph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* c = b.input("c", DType::kBool, std::vector<int64_t>{});
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  Value* a = b.op("Relu", {x});
  Value* y = b.op("Neg", {a});
  Node* neg = b.last_node();
  b.output(a);
  auto body = add_if_reading(g, c, a, "if");
  Node* inner = body->nodes()[0].get();
  REQUIRE(a->uses().size() == 2);

  Value* a2 = b.op("Sigmoid", {x});
  g.replace_all_uses(a, a2);
  CHECK(a->uses().empty());
  CHECK(neg->input(0) == a2);
  CHECK(inner->input(0) == a2);
  CHECK(has_use(a2, inner, 0));
  CHECK(g.outputs == std::vector<Value*>{a2});
  CHECK(y->producer() == neg);
}

TEST_CASE("remove_node refuses a used output and works after rewiring", "[graph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  Value* a = b.op("Relu", {x});
  Node* relu = b.last_node();
  Value* y = b.op("Neg", {a});
  b.output(y);

  try {
    g.remove_node(relu);
    FAIL("remove_node removed a node whose output is still used");
  } catch (const scalec::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains(a->name()));
  }
  CHECK(g.nodes().size() == 2);
  CHECK(a->producer() == relu);

  g.replace_all_uses(a, x);
  g.remove_node(relu);
  CHECK(g.nodes().size() == 1);
  CHECK(a->producer() == nullptr);
  CHECK(x->uses().size() == 1);  // only Neg's use is left
  CHECK(has_use(x, g.nodes()[0].get(), 0));
  CHECK_THROWS_AS(g.remove_node(g.nodes()[0].get()), scalec::Error);  // its output is a graph output
}

// Regression: outputs used to be detached while checking, so a refusal left them producer-less.
TEST_CASE("a refused remove_node leaves the graph unchanged", "[graph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{4});
  auto outs = b.op_n("Split", {x}, 2);
  Node* split = b.last_node();
  b.output(b.op("Neg", {outs[1]}));
  CHECK_THROWS_AS(g.remove_node(split), scalec::Error);
  CHECK(outs[1]->producer() == split);
  CHECK(outs[0]->producer() == split);
}

TEST_CASE("insert_node_before places the node in stored order", "[graph]") {
  Graph g("main");
  Value* x = g.create_value("x");
  g.inputs.push_back(x);
  Value* a = g.create_value("a");
  Value* c = g.create_value("c");
  add_named(g, "A", "Relu", {x}, {a});
  Node* nc = add_named(g, "C", "Neg", {x}, {c});
  Node* nb = g.insert_node_before(nc, "Abs", {a}, {g.create_value("b")});
  nb->name = std::string("B");  // (a temporary: GCC 12 -Wrestrict false positive on literal assignment)
  CHECK(stored_names(g) == std::vector<std::string>{"A", "B", "C"});
  CHECK(nb->owner() == &g);
  CHECK(has_use(a, nb, 0));
}

TEST_CASE("topological_order keeps a valid stored order and fixes a wrong one", "[graph]") {
  Graph g("main");
  Value* x = g.create_value("x");
  g.inputs.push_back(x);
  Value* a = g.create_value("a");
  Value* b = g.create_value("b");
  Value* c = g.create_value("c");
  // Stored: C(b), B(a), I(x), A(x); valid order must put A before B before C.
  add_named(g, "C", "Neg", {b}, {c});
  add_named(g, "B", "Abs", {a}, {b});
  add_named(g, "I", "Identity", {x}, {g.create_value("i")});
  add_named(g, "A", "Relu", {x}, {a});
  CHECK(names(g.topological_order()) == std::vector<std::string>{"I", "A", "B", "C"});
  CHECK(stored_names(g) == std::vector<std::string>{"C", "B", "I", "A"});  // not reordered
  g.sort_topologically();
  CHECK(stored_names(g) == std::vector<std::string>{"I", "A", "B", "C"});
  CHECK(names(g.topological_order()) == stored_names(g));  // now stable
}

TEST_CASE("topological_order throws kBadInput on a cycle", "[graph]") {
  Graph g("main");
  Value* a = g.create_value("a");
  Value* b = g.create_value("b");
  add_named(g, "P", "Relu", {b}, {a});
  add_named(g, "Q", "Neg", {a}, {b});
  try {
    (void)g.topological_order();
    FAIL("a cycle was not reported");
  } catch (const scalec::Error& e) {
    CHECK(e.code() == scalec::ExitCode::kBadInput);
    std::string m = e.what();
    CHECK((m.find("'P'") != std::string::npos || m.find("'Q'") != std::string::npos));
  }
  CHECK_THROWS_AS(g.sort_topologically(), scalec::Error);
}

// Regression: the message used to name the first pending node, which may lie downstream.
TEST_CASE("the cycle error names a node on the cycle", "[graph]") {
  Graph g("main");
  Value* a = g.create_value("a");
  Value* b = g.create_value("b");
  add_named(g, "D", "Identity", {b}, {g.create_value("d")});  // downstream, not on the cycle
  add_named(g, "P", "Relu", {b}, {a});
  add_named(g, "Q", "Neg", {a}, {b});
  try {
    (void)g.topological_order();
    FAIL("a cycle was not reported");
  } catch (const scalec::Error& e) {
    std::string m = e.what();
    CHECK((m.find("'P'") != std::string::npos || m.find("'Q'") != std::string::npos));
  }
}

TEST_CASE("a subgraph's outer reads order its node after their producer", "[graph][subgraph]") {
  Graph g("main");
  Value* c = g.create_value("c");
  Value* x = g.create_value("x");
  g.inputs = {c, x};
  Value* late = g.create_value("late");
  add_if_reading(g, c, late, "IF");                   // stored first, reads `late` inside
  add_named(g, "PROD", "Relu", {x}, {late});          // produces `late`
  CHECK(names(g.topological_order()) == std::vector<std::string>{"PROD", "IF"});
  g.sort_topologically();
  CHECK(stored_names(g) == std::vector<std::string>{"PROD", "IF"});
}

// A subgraph may return an outer value directly (an If branch returning `a`); that read counts.
TEST_CASE("a subgraph output naming an outer value counts as a use", "[graph][subgraph]") {
  Graph g("main");
  Value* c = g.create_value("c");
  Value* x = g.create_value("x");
  g.inputs = {c, x};
  Value* a = g.create_value("a");
  auto body = std::make_shared<Graph>("then", &g);
  body->outputs.push_back(a);  // returns the outer value as is
  Node* n = add_named(g, "IF", "If", {c}, {g.create_value("if_out")});
  Attribute attr;
  attr.name = "then_branch";
  attr.kind = Attribute::Kind::kGraph;
  attr.g = body;
  n->set_attribute(std::move(attr));
  add_named(g, "PROD", "Relu", {x}, {a});
  CHECK(names(g.topological_order()) == std::vector<std::string>{"PROD", "IF"});

  Value* a2 = g.create_value("a2");
  add_named(g, "PROD2", "Neg", {x}, {a2});
  g.replace_all_uses(a, a2);
  CHECK(body->outputs == std::vector<Value*>{a2});
}

TEST_CASE("outer_scope_values lists enclosing values read by nested subgraphs", "[graph][subgraph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* c = b.input("c", DType::kBool, std::vector<int64_t>{});
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  auto body = add_if_reading(g, c, x, "outer_if");
  Value* local = body->nodes()[0]->output(0);
  auto inner = add_if_reading(*body, c, local, "inner_if");  // reads c (main) and local (body)
  CHECK(body->outer_scope_values() == std::vector<Value*>{x, c});
  CHECK(inner->outer_scope_values() == std::vector<Value*>{local});
  CHECK(g.outer_scope_values().empty());
}

TEST_CASE("unique_name avoids names of this graph and its ancestors", "[graph]") {
  Graph g("main");
  g.create_value("w");
  g.create_value("w_1");
  Graph sub("body", &g);
  sub.create_value("v");
  CHECK(g.unique_name("fresh") == "fresh");
  CHECK(g.unique_name("w") == "w_2");
  CHECK(sub.unique_name("w") == "w_2");
  CHECK(sub.unique_name("v") == "v_1");
  CHECK(g.unique_name("v") == "v");  // a subgraph's names do not reach up
}

TEST_CASE("remove_unused_values drops only orphan values", "[graph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  b.initializer("w", Tensor(DType::kFloat, {2}));
  Value* y = b.op("Relu", {x});
  b.output(y);
  g.create_value("orphan");
  Value* unused_out = b.op("Neg", {x});  // produced but unused: kept
  size_t before = g.values().size();
  g.remove_unused_values();
  CHECK(g.values().size() == before - 1);
  CHECK(g.find_value("orphan") == nullptr);
  CHECK(g.find_value("w") != nullptr);
  CHECK(g.find_value("x") == x);
  CHECK(g.find_value(unused_out->name()) == unused_out);
}

TEST_CASE("removing an If node detaches its subgraph's uses of outer values", "[graph][subgraph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* c = b.input("c", DType::kBool, std::vector<int64_t>{});
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  std::weak_ptr<Graph> body = add_if_reading(g, c, x, "if");
  REQUIRE(x->uses().size() == 1);
  CHECK(x->uses()[0].node->owner() == body.lock().get());
  g.remove_node(g.nodes()[0].get());
  CHECK(body.expired());
  CHECK(x->uses().empty());
  CHECK(c->uses().empty());
}

TEST_CASE("bypass rewires readers and keeps a graph output's name through an Identity", "[graph]") {
  Graph g("main");
  GraphBuilder b(g);
  Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{2});
  Value* d = g.create_value("d");
  Node* drop = add_named(g, "drop", "Dropout", {x}, {d});
  Value* r = g.create_value("r");
  Node* relu = add_named(g, "relu", "Relu", {d}, {r});
  g.outputs = {r, d};

  bypass(g, drop, x);
  CHECK(has_use(x, relu, 0));
  REQUIRE(g.outputs.size() == 2);
  CHECK(g.outputs[0] == r);
  CHECK(g.outputs[1] == d);  // same value, same name, same position
  REQUIRE(d->producer() != nullptr);
  CHECK(d->producer()->op_type() == "Identity");
  CHECK(d->producer()->name == "drop");
  CHECK(has_use(x, d->producer(), 0));
  CHECK(stored_names(g) == std::vector<std::string>{"relu", "drop"});

  // Not a graph output: the node just goes.
  Value* e = g.create_value("e");
  Node* id = add_named(g, "id2", "Identity", {r}, {e});
  Value* s = g.create_value("s");
  Node* sig = add_named(g, "sig", "Sigmoid", {e}, {s});
  bypass(g, id, r);
  CHECK(has_use(r, sig, 0));
  CHECK(e->uses().empty());
  CHECK(stored_names(g) == std::vector<std::string>{"relu", "drop", "sig"});
}

TEST_CASE("typed attribute readers give the value, the fallback, or kBadInput on another kind", "[graph]") {
  Graph g("main");
  Node* n = add_named(g, "conv1", "Conv", {}, {g.create_value("y")});
  Attribute group;
  group.name = "group";
  group.kind = Attribute::Kind::kInt;
  group.i = 4;
  n->set_attribute(group);
  Attribute alpha;
  alpha.name = "alpha";
  alpha.kind = Attribute::Kind::kInt;  // some exporters write an int where ONNX says float
  alpha.i = 2;
  n->set_attribute(alpha);
  Attribute pads;
  pads.name = "pads";
  pads.kind = Attribute::Kind::kInts;
  pads.ints = {1, 1, 1, 1};
  n->set_attribute(pads);
  CHECK(int_attr(*n, "group", 1) == 4);
  CHECK(int_attr(*n, "missing", 7) == 7);
  CHECK(float_attr(*n, "alpha", 1.0f) == 2.0f);
  CHECK(ints_attr(*n, "pads") == std::vector<int64_t>{1, 1, 1, 1});
  CHECK(ints_attr(*n, "strides", {1, 1}) == std::vector<int64_t>{1, 1});
  CHECK(string_attr(*n, "auto_pad", "NOTSET") == "NOTSET");
  try {
    (void)int_attr(*n, "pads", 0);
    FAIL("a list read as an int must be refused");
  } catch (const scalec::Error& e) {
    CHECK(e.code() == scalec::ExitCode::kBadInput);
    CHECK(std::string(e.what()) == "[Conv node 'conv1'] attribute 'pads' must be an int");
  }
}
