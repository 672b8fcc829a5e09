// ir/printer: the text form of a model, its node lines and attribute values.
#include <catch2/catch.hpp>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "ir/printer.h"

using namespace scalec::ir;
using Catch::Contains;

namespace {
Model small_model() {
  Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", 17}, {"com.x", 1}};
  m.graph = std::make_unique<Graph>("net");
  Graph& g = *m.graph;
  Value* x = g.create_value("x");
  x->type = TypeInfo::tensor(DType::kFloat, {Dim::named("N"), Dim::of(3), Dim::of(8), Dim::of(8)});
  g.inputs.push_back(x);
  Value* w = g.add_initializer("w", Tensor(DType::kFloat, {4, 3, 3, 3}));
  Value* c = g.create_value("c");
  Node* conv = g.add_node("Conv", {x, w}, {c});
  conv->name = "conv0";
  conv->set_attribute(GraphBuilder::attr("kernel_shape", std::vector<int64_t>{3, 3}));
  conv->set_attribute(GraphBuilder::attr("auto_pad", std::string("VALID")));
  conv->set_attribute(GraphBuilder::attr("alpha", 0.5f));
  Value* y = g.create_value("y");
  g.add_node("Relu", {c}, {y});
  Value* z = g.create_value("z");
  g.add_node("Foo", {y, nullptr}, {z}, "com.x");
  g.outputs.push_back(z);
  return m;
}
}  // namespace

TEST_CASE("model_to_text prints the header, inputs, initializers and node lines", "[printer]") {
  std::string text = model_to_text(small_model());
  CHECK_THAT(text, Contains("ir_version 8, opsets ai.onnx:17 com.x:1"));
  CHECK_THAT(text, Contains("%x: float[N, 3, 8, 8]"));
  CHECK_THAT(text, Contains("%w = <tensor float[4, 3, 3, 3]>"));
  CHECK_THAT(text, Contains("%y = Relu(%c)\n"));
  CHECK_THAT(text, Contains("%c = Conv(%x, %w) {kernel_shape=[3, 3], auto_pad=\"VALID\", alpha=0.5}  # conv0"));
  CHECK_THAT(text, Contains("%z = com.x::Foo(%y, <none>)"));
  CHECK_THAT(text, Contains("return %z"));
  // Nodes appear in stored order.
  CHECK(text.find("= Conv(") < text.find("= Relu("));
}

TEST_CASE("attribute_to_string formats each kind", "[printer]") {
  CHECK(attribute_to_string(GraphBuilder::attr("axis", int64_t{-1})) == "-1");
  CHECK(attribute_to_string(GraphBuilder::attr("pads", std::vector<int64_t>{0, 1, 0, 1})) == "[0, 1, 0, 1]");
  CHECK(attribute_to_string(GraphBuilder::attr("mode", std::string("constant"))) == "\"constant\"");
  CHECK(attribute_to_string(GraphBuilder::attr("value", Tensor(DType::kInt8, {64}))) == "<tensor int8[64]>");
  Attribute fl;
  fl.kind = Attribute::Kind::kFloats;
  fl.floats = {1.5f, -2.0f};
  CHECK(attribute_to_string(fl) == "[1.5, -2]");
  Attribute ref;
  ref.ref_attr_name = "alpha";
  CHECK(attribute_to_string(ref) == "@alpha");
}

TEST_CASE("print_graph indents subgraphs under their node", "[printer][subgraph]") {
  Graph g("main");
  Value* c = g.create_value("c");
  g.inputs.push_back(c);
  Node* n = g.add_node("If", {c}, {g.create_value("o")});
  auto body = std::make_shared<Graph>("then_body", &g);
  Value* t = body->create_value("t");
  body->add_node("Not", {c}, {t});
  body->outputs.push_back(t);
  Attribute a;
  a.name = "then_branch";
  a.kind = Attribute::Kind::kGraph;
  a.g = body;
  n->set_attribute(std::move(a));
  g.outputs.push_back(n->output(0));

  std::ostringstream os;
  print_graph(os, g);
  std::string text = os.str();
  CHECK_THAT(text, Contains("%o = If(%c) {then_branch=<graph then_body>}\n"));
  CHECK_THAT(text, Contains("\n    graph then_body (\n"));
  CHECK_THAT(text, Contains("\n      %t = Not(%c)\n"));
}
