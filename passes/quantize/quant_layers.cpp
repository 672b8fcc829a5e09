#include "passes/quantize/quant_layers.h"

#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "kernels/exec/shape_inference.h"
#include "passes/core/constant.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes::quant {

namespace {

std::string dtype_label(int32_t elem_type) { return std::string(ir::dtype_name(static_cast<ir::DType>(elem_type))); }

}  // namespace

ValueTypes::ValueTypes(ir::Model& model) {
  ir::Graph& g = *model.graph;
  std::vector<std::pair<ir::Value*, std::optional<ir::TypeInfo>>> recorded;
  for (const auto& v : g.values()) recorded.emplace_back(v.get(), v->type);
  kernels::ShapeInferenceOptions lenient;
  lenient.strict = false;
  std::set<std::string> unruled;
  try {
    for (const std::string& s : kernels::infer_shapes(model, lenient).nodes_without_rule) unruled.insert(s);
  } catch (const Error& e) {
    // The passes still work from recorded types; the executor names the bad node if it matters.
    spdlog::warn("shape inference stopped ({}); float types are taken from the types the model records", e.what());
  }
  for (const auto& v : g.values()) {
    if (v->type && v->type->kind == ir::TypeInfo::Kind::kTensor && v->type->elem_type != 0) {
      types_[v.get()] = v->type->elem_type;
    }
  }
  for (const auto& n : g.nodes()) {
    if (unruled.count(fmt::format("{} '{}'", n->op_type(), n->name))) without_rule_.insert(n.get());
  }
  for (auto& [v, t] : recorded) v->type = std::move(t);
}

int32_t ValueTypes::elem_type(const ir::Value* v) const {
  if (!v) return 0;
  if (v->is_initializer()) return static_cast<int32_t>(v->initializer->dtype());
  auto it = types_.find(v);
  return it == types_.end() ? 0 : it->second;
}

std::string ValueTypes::activation_reason(const ir::Graph& g, const ir::Value* v) const {
  if (!v) return "missing";
  if (constant_tensor(g, v)) return "a constant";
  const int32_t t = elem_type(v);
  if (t == static_cast<int32_t>(ir::DType::kFloat)) return {};
  if (t != 0) return dtype_label(t);
  if (is_float_value(v)) return {};  // a float-preserving chain from a typed value (no inference rule needed)
  // Name the node whose missing shape rule left the type unknown: the first untyped producer upstream.
  const ir::Node* p = v->producer();
  for (int depth = 0; p && !without_rule_.count(p) && depth < 64; ++depth) {
    const ir::Node* up = nullptr;
    for (const ir::Value* in : p->inputs()) {
      if (in && elem_type(in) == 0 && in->producer()) up = in->producer();
    }
    if (!up) break;
    p = up;
  }
  if (p && without_rule_.count(p)) {
    return fmt::format("of unknown type (scalec has no shape rule for {})", p->op_type());
  }
  return "of unknown type";
}

bool is_layer_op(const ir::Node& n) {
  const std::string& op = n.op_type();
  return n.domain().empty() && (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul");
}

bool is_activation_matmul(const ir::Graph& g, const ValueTypes& types, const ir::Node& n) {
  return n.domain().empty() && n.op_type() == "MatMul" && types.is_float_activation(g, n.input(0)) &&
         types.is_float_activation(g, n.input(1));
}

std::string weight_reason(const ir::Graph& g, const ValueTypes& types, const ir::Node& n) {
  const ir::Value* w = n.input(1);
  if (!w) return "no weight (input 1)";
  if (w->is_initializer() && is_graph_input(g, w)) return "weight (input 1) is also a graph input (a caller may replace it)";
  if (w->is_initializer() && w->owner() != &g) return "weight (input 1) belongs to an outer graph";
  if (const ir::Tensor* c = constant_tensor(g, w)) {
    if (c->dtype() != ir::DType::kFloat) return fmt::format("weight (input 1) is {}, not float", ir::dtype_name(c->dtype()));
    if (!w->is_initializer()) return "weight (input 1) is a Constant node (canonicalize the model first)";
    return {};
  }
  const std::string why = types.activation_reason(g, w);
  if (why.empty()) {
    const ir::Node* p = w->producer();
    return p ? fmt::format("weight (input 1) is computed at run time (by {})", p->op_type())
             : "weight (input 1) is a graph input";
  }
  return "weight (input 1) is " + why;
}

std::string gemm_matmul_reason(const ir::Graph& g, const ir::Node& gemm) {
  auto attr = [&](const char* name) { return gemm.attribute(name); };
  const ir::Tensor* w = float_weight(g, gemm.input(1));
  if (w && w->rank() != 2) return "Gemm weight not of rank 2";
  if (const ir::Attribute* a = attr("alpha"); a && a->f != 1.0f) return "Gemm with alpha != 1 (no MatMul form)";
  if (const ir::Attribute* a = attr("transA"); a && a->i != 0) return "Gemm with transA = 1 (no MatMul form)";
  if (const ir::Attribute* b = attr("beta"); b && b->f != 1.0f && gemm.input(2)) return "Gemm with beta != 1 (no MatMul form)";
  return "Gemm (run gemm-to-matmul first)";
}

const ir::Tensor* float_bias(const ir::Graph& g, const ir::Value* v) {
  for (int depth = 0; v && depth < 16; ++depth) {
    if (const ir::Tensor* t = float_weight(g, v)) return t;
    const ir::Node* p = v->producer();
    if (!p || !p->domain().empty() || p->op_type() != "Identity") return nullptr;
    v = p->input(0);
  }
  return nullptr;
}

void remove_dead_identities(ir::Graph& g) {
  for (bool again = true; again;) {
    again = false;
    for (const auto& n : g.nodes()) {
      const ir::Value* y = n->output(0);
      const ir::Value* x = n->input(0);
      if (n->op_type() == "Identity" && n->domain().empty() && x && x->is_initializer() && y && y->uses().empty() &&
          !is_graph_output(g, y)) {
        g.remove_node(n.get());
        again = true;
        break;
      }
    }
  }
}

int64_t layer_params(const ir::Graph& g, const ir::Node& n) {
  const ir::Tensor* w = constant_tensor(g, n.input(1));
  return w && w->dtype() == ir::DType::kFloat ? w->numel() : 0;
}

}  // namespace scalec::passes::quant
