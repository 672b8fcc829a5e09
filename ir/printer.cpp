#include "ir/printer.h"

#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace scalec::ir {

namespace {
std::string tensor_summary(const Tensor& t) {
  return fmt::format("<tensor {}{}>", dtype_name(t.dtype()), shape_to_string(t.shape()));
}

std::string value_ref(const Value* v) { return v ? "%" + v->name() : "<none>"; }
}  // namespace

std::string attribute_to_string(const Attribute& a) {
  using K = Attribute::Kind;
  switch (a.kind) {
    case K::kFloat: return fmt::format("{}", a.f);
    case K::kInt: return std::to_string(a.i);
    case K::kString: return fmt::format("\"{}\"", a.s);
    case K::kTensor: return a.t ? tensor_summary(*a.t) : "<tensor>";
    case K::kGraph: return fmt::format("<graph {}>", a.g ? a.g->name : "");
    case K::kFloats: return fmt::format("{}", a.floats);
    case K::kInts: return fmt::format("{}", a.ints);
    case K::kStrings: return fmt::format("{}", a.strings);
    case K::kTensors: return fmt::format("<{} tensors>", a.tensors.size());
    case K::kGraphs: return fmt::format("<{} graphs>", a.graphs.size());
    case K::kSparseTensor: return "<sparse tensor>";
    case K::kSparseTensors: return fmt::format("<{} sparse tensors>", a.opaque.size());
    case K::kTypeProto: return "<type>";
    case K::kTypeProtos: return fmt::format("<{} types>", a.opaque.size());
    case K::kUndefined: break;
  }
  return a.ref_attr_name.empty() ? "<undefined>" : "@" + a.ref_attr_name;
}

void print_graph(std::ostream& os, const Graph& graph, int indent) {
  std::string pad(static_cast<size_t>(indent), ' ');
  os << pad << "graph " << graph.name << " (\n";
  for (const Value* v : graph.inputs) {
    os << pad << "  %" << v->name() << ": " << (v->type ? type_to_string(*v->type) : "?") << "\n";
  }
  os << pad << ")";
  if (!graph.initializers.empty()) {
    os << " initializers (\n";
    for (const Value* v : graph.initializers) {
      os << pad << "  %" << v->name() << " = " << tensor_summary(*v->initializer) << "\n";
    }
    os << pad << ")";
  }
  os << " {\n";
  for (const auto& n : graph.nodes()) {
    os << pad << "  ";
    for (size_t i = 0; i < n->outputs().size(); ++i) os << (i ? ", " : "") << value_ref(n->output(i));
    os << " = " << (n->domain().empty() ? "" : n->domain() + "::") << n->op_type() << "(";
    for (size_t i = 0; i < n->inputs().size(); ++i) os << (i ? ", " : "") << value_ref(n->input(i));
    os << ")";
    std::vector<const Attribute*> subgraph_attrs;
    if (!n->attributes().empty()) {
      os << " {";
      for (size_t i = 0; i < n->attributes().size(); ++i) {
        const Attribute& a = n->attributes()[i];
        os << (i ? ", " : "") << a.name << "=" << attribute_to_string(a);
        if (a.g || !a.graphs.empty()) subgraph_attrs.push_back(&a);
      }
      os << "}";
    }
    if (!n->name.empty()) os << "  # " << n->name;
    os << "\n";
    for (const Attribute* a : subgraph_attrs) {
      if (a->g) print_graph(os, *a->g, indent + 4);
      for (const auto& g : a->graphs) print_graph(os, *g, indent + 4);
    }
  }
  os << pad << "  return ";
  for (size_t i = 0; i < graph.outputs.size(); ++i) os << (i ? ", " : "") << value_ref(graph.outputs[i]);
  os << "\n" << pad << "}\n";
}

std::string model_to_text(const Model& model) {
  std::ostringstream os;
  os << "ir_version " << model.ir_version << ", opsets";
  for (const auto& o : model.opset_imports) os << " " << (o.domain.empty() ? "ai.onnx" : o.domain) << ":" << o.version;
  os << "\n";
  if (model.graph) print_graph(os, *model.graph);
  return os.str();
}

}  // namespace scalec::ir
