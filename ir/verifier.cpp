#include "ir/verifier.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "ir/error.h"
#include "ir/printable.h"

namespace scalec::ir {

namespace {

std::string node_label(const Node& n) {
  return n.name.empty() ? fmt::format("<unnamed {}>", printable(n.op_type()))
                        : fmt::format("'{}' ({})", printable(n.name), printable(n.op_type()));
}

bool defined_in(const Graph& g, const Value* v) {
  if (v->owner() != &g) return false;
  return v->producer() != nullptr || v->is_initializer() ||
         std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
}

bool encloses(const Graph* outer, const Graph* g) {
  for (const Graph* p = g->parent(); p != nullptr; p = p->parent()) {
    if (p == outer) return true;
  }
  return false;
}

// Compares the numeric dims a model records against a tensor's shape.
bool type_agrees(const TypeInfo& t, const Tensor& data) {
  if (t.kind != TypeInfo::Kind::kTensor) return false;
  if (t.elem_type != 0 && t.dtype() != data.dtype()) return false;
  if (!t.shape) return true;
  if (t.shape->size() != data.shape().size()) return false;
  for (size_t i = 0; i < t.shape->size(); ++i) {
    const Dim& d = (*t.shape)[i];
    if (d.value && *d.value != data.shape()[i]) return false;
  }
  return true;
}

class GraphVerifier {
 public:
  explicit GraphVerifier(VerifyReport& report) : r_(report) {}

  void run(const Graph& g) {
    std::string where = g.parent() ? fmt::format("subgraph '{}'", printable(g.name)) : fmt::format("graph '{}'", printable(g.name));
    check_definitions(g, where);
    check_uses(g, where);
    check_types(g, where);
    try {
      (void)g.topological_order();
    } catch (const Error& e) {
      r_.errors.push_back(e.what());
    }
    for (const auto& n : g.nodes()) {
      for (const Attribute& a : n->attributes()) {
        auto sub = [&](const std::shared_ptr<Graph>& s) {
          if (!s) return;
          if (s->parent() != &g) {
            r_.errors.push_back(fmt::format("{}: attribute '{}' of node {} holds a subgraph whose parent is not this graph",
                                            where, printable(a.name), node_label(*n)));
          }
          run(*s);
        };
        sub(a.g);
        for (const auto& s : a.graphs) sub(s);
      }
    }
  }

 private:
  void check_definitions(const Graph& g, const std::string& where) {
    std::unordered_map<std::string, std::string> defined;  // name -> what defined it
    auto define = [&](const std::string& name, const std::string& what) {
      auto [it, fresh] = defined.emplace(name, what);
      if (!fresh) {
        r_.errors.push_back(fmt::format("{}: duplicate name '{}' (defined by {} and by {})", where, printable(name), it->second, what));
      }
    };
    std::unordered_set<std::string> input_names;
    for (const Value* v : g.inputs) {
      define(v->name(), "a graph input");
      input_names.insert(v->name());
    }
    for (const Value* v : g.initializers) {
      // An initializer may share its name with a graph input (it is then the input's default).
      if (!input_names.count(v->name())) define(v->name(), "an initializer");
    }
    std::unordered_set<std::string> node_names;
    for (const auto& n : g.nodes()) {
      for (const Value* out : n->outputs()) {
        if (out) define(out->name(), fmt::format("node {}", node_label(*n)));
      }
      if (!n->name.empty() && !node_names.insert(n->name).second) {
        r_.warnings.push_back(fmt::format("{}: node name '{}' is used more than once", where, printable(n->name)));
      }
    }
  }

  void check_uses(const Graph& g, const std::string& where) {
    for (const auto& n : g.nodes()) {
      for (const Value* v : n->inputs()) {
        if (v == nullptr) continue;
        if (v->owner() == &g) {
          if (!defined_in(g, v)) {
            r_.errors.push_back(fmt::format("{}: node {} reads '{}', which no node, input or initializer defines",
                                            where, node_label(*n), printable(v->name())));
          }
        } else if (!encloses(v->owner(), &g)) {
          r_.errors.push_back(fmt::format("{}: node {} reads '{}' from a graph that does not enclose it",
                                          where, node_label(*n), printable(v->name())));
        } else if (!defined_in(*v->owner(), v)) {
          r_.errors.push_back(fmt::format("{}: node {} reads outer-scope value '{}', which is not defined there",
                                          where, node_label(*n), printable(v->name())));
        }
      }
    }
    for (const Value* v : g.outputs) {
      bool ok = v->owner() == &g ? defined_in(g, v) : (encloses(v->owner(), &g) && defined_in(*v->owner(), v));
      if (!ok) r_.errors.push_back(fmt::format("{}: output '{}' is not defined", where, printable(v->name())));
    }
  }

  void check_types(const Graph& g, const std::string& where) {
    // A main-graph input of element type 0 (UNDEFINED) says nothing a feed could match; subgraph
    // inputs may leave their types to the enclosing op.
    for (const Value* v : g.parent() ? std::vector<Value*>{} : g.inputs) {
      if (v->type && v->type->kind == TypeInfo::Kind::kTensor && v->type->elem_type == 0 && !v->is_initializer()) {
        r_.errors.push_back(fmt::format("{}: input '{}' has element type 0 (UNDEFINED); a graph input needs a "
                                        "tensor element type", where, printable(v->name())));
      }
    }
    for (const Value* v : g.initializers) {
      if (v->type && !type_agrees(*v->type, *v->initializer)) {
        r_.errors.push_back(fmt::format("{}: initializer '{}' holds {} {} but the model records {}", where, printable(v->name()),
                                        dtype_name(v->initializer->dtype()), shape_to_string(v->initializer->shape()),
                                        type_to_string(*v->type)));
      }
    }
    for (const auto& n : g.nodes()) {
      if (n->op_type() != "Constant" || !n->domain().empty() || n->outputs().empty()) continue;
      const Attribute* value = n->attribute("value");
      const Value* out = n->output(0);
      if (value && value->t && out && out->type && !type_agrees(*out->type, *value->t)) {
        r_.errors.push_back(fmt::format("{}: Constant {} holds {} {} but the model records {} for '{}'", where,
                                        node_label(*n), dtype_name(value->t->dtype()),
                                        shape_to_string(value->t->shape()), type_to_string(*out->type), printable(out->name())));
      }
    }
  }

  VerifyReport& r_;
};

}  // namespace

std::string VerifyReport::summary(size_t max_errors) const {
  std::string s;
  for (size_t i = 0; i < errors.size() && i < max_errors; ++i) {
    if (i) s += "\n  ";
    s += errors[i];
  }
  if (errors.size() > max_errors) s += fmt::format("\n  ... and {} more", errors.size() - max_errors);
  return s;
}

VerifyReport verify(const Graph& graph) {
  VerifyReport r;
  GraphVerifier(r).run(graph);
  return r;
}

VerifyReport verify(const Model& model) {
  VerifyReport r;
  if (!model.graph) {
    r.errors.push_back("model has no graph");
    return r;
  }
  if (model.ir_version >= 3 && model.opset_imports.empty()) r.errors.push_back("model imports no opset");
  std::unordered_set<std::string> domains;
  for (const auto& o : model.opset_imports) {
    std::string d = o.domain == "ai.onnx" ? "" : o.domain;
    if (!domains.insert(d).second) r.errors.push_back(fmt::format("opset for domain '{}' imported twice", o.domain));
  }
  GraphVerifier(r).run(*model.graph);
  return r;
}

void verify_or_throw(const Model& model) {
  VerifyReport r = verify(model);
  if (!r.ok()) throw_bad_input("invalid model: {}", r.summary());
}

}  // namespace scalec::ir
