#include "passes/core/opset_upgrade.h"

#include <algorithm>
#include <set>
#include <string>

#include "ir/error.h"
#include "ir/node_attrs.h"
#include "kernels/exec/shape_inference.h"

namespace scalec::passes {

namespace {

// The node's attribute `name` removed and returned (nullopt when absent).
std::optional<ir::Attribute> take_attribute(ir::Node* n, const std::string& name) {
  auto& attrs = n->mutable_attributes();
  auto it = std::find_if(attrs.begin(), attrs.end(), [&](const ir::Attribute& a) { return a.name == name; });
  if (it == attrs.end()) return std::nullopt;
  ir::Attribute a = std::move(*it);
  attrs.erase(it);
  return a;
}

// Input `index` of `n` becomes a new initializer holding `t` (inputs before it padded with "").
void set_input_constant(ir::Node* n, size_t index, ir::Tensor t, const std::string& what) {
  ir::Graph& g = *n->owner();
  const std::string base = (n->name.empty() ? n->op_type() : n->name) + "_" + what;
  ir::Value* v = g.add_initializer(g.unique_name(base), std::move(t));
  while (n->inputs().size() < index) n->add_input(nullptr);
  if (n->inputs().size() == index) {
    n->add_input(v);
  } else {
    n->set_input(index, v);
  }
}

ir::Tensor float_scalar(float f) {
  ir::Tensor t(ir::DType::kFloat, {});
  t.mutable_values<float>()[0] = f;
  return t;
}

// Moves the ints attribute `name` to input `index` as a 1-D int64 tensor (absent: input left empty).
void ints_attribute_to_input(ir::Node* n, const std::string& name, size_t index) {
  std::optional<ir::Attribute> a = take_attribute(n, name);
  if (!a) return;
  set_input_constant(n, index, ir::Tensor::from_int64s({static_cast<int64_t>(a->ints.size())}, a->ints), name);
}

[[noreturn]] void refuse(const ir::Node* n, int64_t from, int64_t to, const std::string& why) {
  throw_bad_input("cannot upgrade {} node '{}' from opset {} to {}: {}", n->op_type(), n->name, from, to, why);
}

// Input 0's type as shape inference knows it (recorded, else inferred); null when neither knows.
const ir::TypeInfo* input_type(const ir::Node* n, const kernels::TypeMap& types) {
  const ir::Value* x = n->input(0);
  return x ? kernels::type_of(types, x) : nullptr;
}

bool is_float_input(const ir::Node* n, const kernels::TypeMap& types) {
  const ir::TypeInfo* t = input_type(n, types);
  return !t || t->elem_type == 0 || t->dtype() == ir::DType::kFloat;
}

void upgrade_node(ir::Node* n, int64_t from, int64_t to, const kernels::TypeMap& types) {
  static const std::set<std::string> kReduce18 = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                                  "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                                  "ReduceSumSquare"};
  const std::string& op = n->op_type();
  auto crosses = [&](int64_t v) { return from < v && to >= v; };
  if (op == "Upsample" || op == "Scatter") refuse(n, from, to, "the op was removed from ONNX; rewrite it as Resize / ScatterElements");
  if (op == "Resize" && from < 11) refuse(n, from, to, "Resize changed its inputs and coordinate rules at opset 11");
  if (op == "Scan" && from < 9) refuse(n, from, to, "Scan dropped its batch axis at opset 9");
  if (op == "GroupNormalization" && crosses(21)) refuse(n, from, to, "scale and bias changed from per group to per channel at 21");
  if (op == "BatchNormalization" && from < 9) {
    std::optional<ir::Attribute> spatial = take_attribute(n, "spatial");
    if (spatial && spatial->i == 0) refuse(n, from, to, "spatial=0 has no equivalent after opset 9");
  }
  if (op == "Slice" && crosses(10)) {
    ints_attribute_to_input(n, "starts", 1);
    ints_attribute_to_input(n, "ends", 2);
    ints_attribute_to_input(n, "axes", 3);
  }
  if (op == "TopK" && crosses(10)) {
    std::optional<ir::Attribute> k = take_attribute(n, "k");
    if (!k) refuse(n, from, to, "no k attribute");
    set_input_constant(n, 1, ir::Tensor::from_int64s({1}, std::vector<int64_t>{k->i}), "k");
  }
  if (op == "Pad" && crosses(11)) {
    ints_attribute_to_input(n, "pads", 1);
    std::optional<ir::Attribute> value = take_attribute(n, "value");
    if (value && value->f != 0.0f) {
      if (!is_float_input(n, types)) refuse(n, from, to, "a non-zero pad value on non-float data");
      set_input_constant(n, 2, float_scalar(value->f), "value");
    }
  }
  if (op == "Clip" && crosses(11)) {
    std::optional<ir::Attribute> lo = take_attribute(n, "min"), hi = take_attribute(n, "max");
    if ((lo || hi) && !is_float_input(n, types)) refuse(n, from, to, "min/max on non-float data");
    if (lo) set_input_constant(n, 1, float_scalar(lo->f), "min");
    if (hi) set_input_constant(n, 2, float_scalar(hi->f), "max");
  }
  if (op == "Dropout" && crosses(12)) {
    std::optional<ir::Attribute> ratio = take_attribute(n, "ratio");
    if (ratio) set_input_constant(n, 1, float_scalar(ratio->f), "ratio");
  }
  if ((op == "Split" || op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") && crosses(13)) {
    ints_attribute_to_input(n, op == "Split" ? "split" : "axes", 1);
  }
  if (kReduce18.count(op) && crosses(18)) ints_attribute_to_input(n, "axes", 1);
  if ((op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && crosses(13)) {
    const int64_t axis = ir::int_attr(*n, "axis", 1);
    const ir::TypeInfo* x = input_type(n, types);
    if (!x || !x->shape) refuse(n, from, to, "shape inference cannot tell the input's rank, so the axis cannot be checked");
    const auto rank = static_cast<int64_t>(x->shape->size());
    if ((axis < 0 ? axis + rank : axis) != rank - 1) {
      refuse(n, from, to, "before 13 it normalizes everything from the axis on; only the last axis keeps its meaning");
    }
    ir::Attribute explicit_axis;
    explicit_axis.name = "axis";
    explicit_axis.kind = ir::Attribute::Kind::kInt;
    explicit_axis.i = rank - 1;
    n->set_attribute(explicit_axis);
  }
}

void upgrade_graph(ir::Graph& g, int64_t from, int64_t to, const kernels::TypeMap& types) {
  std::vector<ir::Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  for (ir::Node* n : nodes) {
    for (const ir::Attribute& a : n->attributes()) {
      if (a.g) upgrade_graph(*a.g, from, to, types);
      for (const auto& sub : a.graphs) {
        if (sub) upgrade_graph(*sub, from, to, types);
      }
    }
    if (n->domain().empty() || n->domain() == "ai.onnx") upgrade_node(n, from, to, types);
  }
}

int64_t ir_version_for(int64_t opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 17) return 8;
  if (opset >= 15) return 8;
  if (opset >= 13) return 7;
  return 3;
}

}  // namespace

void upgrade_opset(ir::Model& model, int64_t target) {
  const int64_t from = model.opset_version();
  if (from >= target) return;
  if (from < 7) throw_bad_input("cannot upgrade a model from opset {} (below 7: broadcast and consumed_inputs rules differ)", from);
  // Inferred before any node changes, so ranks come from the graph as the old opset reads it.
  kernels::TypeMap types;
  try {
    types = kernels::inferred_types(model);
  } catch (const Error&) {
    // A contradiction inference cannot pass: the recorded types alone decide (refusals name the node).
  }
  upgrade_graph(*model.graph, from, target, types);
  bool found = false;
  for (ir::OpsetImport& o : model.opset_imports) {
    if (o.domain.empty() || o.domain == "ai.onnx") {
      o.version = target;
      found = true;
    }
  }
  if (!found) model.opset_imports.push_back({"", target});
  model.ir_version = std::max(model.ir_version, ir_version_for(target));
}

std::string UpgradeOpset::run(ir::Model& model) {
  const int64_t have = model.opset_version();
  if (have > target_) {
    throw Error(ExitCode::kUsage, fmt::format("--target-opset {}: the model is at opset {} and scalec does not downgrade", target_, have));
  }
  upgrade_opset(model, target_);
  return have == target_ ? fmt::format("upgrade-opset: already at opset {}", have)
                         : fmt::format("upgrade-opset: opset {} -> {}", have, target_);
}

}  // namespace scalec::passes
