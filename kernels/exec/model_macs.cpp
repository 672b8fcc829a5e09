#include "kernels/exec/model_macs.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/error.h"
#include "kernels/exec/shape_inference.h"
#include "kernels/ops/op_costs.h"

namespace scalec::kernels {

namespace {

// Recorded types of every value of `g` and its subgraphs, so they can be put back.
using TypeSnapshot = std::vector<std::pair<ir::Value*, std::optional<ir::TypeInfo>>>;

void snapshot(const ir::Graph& g, TypeSnapshot& s) {
  for (const auto& v : g.values()) s.emplace_back(v.get(), v->type);
  for (const auto& n : g.nodes()) {
    for (const ir::Attribute& a : n->attributes()) {
      if (a.g) snapshot(*a.g, s);
      for (const auto& sub : a.graphs) snapshot(*sub, s);
    }
  }
}

// Sets every dim named in `values` to its number, in `g` and its subgraphs.
void substitute(const ir::Graph& g, const std::map<std::string, int64_t>& values) {
  for (const auto& v : g.values()) {
    if (!v->type || !v->type->shape) continue;
    for (ir::Dim& d : *v->type->shape) {
      auto it = d.value ? values.end() : values.find(d.param);
      if (it != values.end()) d = ir::Dim::of(it->second);
    }
  }
  for (const auto& n : g.nodes()) {
    for (const ir::Attribute& a : n->attributes()) {
      if (a.g) substitute(*a.g, values);
      for (const auto& sub : a.graphs) substitute(*sub, values);
    }
  }
}

std::string dim_label(const ir::Value& v, size_t axis, const ir::Dim& d) {
  return d.param.empty() ? fmt::format("{} axis {}", v.name(), axis) : d.param;
}

std::vector<ir::Value*> data_inputs(const ir::Graph& g) {
  std::vector<ir::Value*> out;
  for (ir::Value* v : g.inputs) {
    if (!v->is_initializer()) out.push_back(v);
  }
  return out;
}

// Applies the batch and the caller's shapes to the inputs' recorded types (and every dim of
// the same name); fills `r.batch`.
void fix_inputs(ir::Graph& g, const InputShapes& fixed, ModelMacs& r) {
  const std::vector<ir::Value*> inputs = data_inputs(g);
  for (const auto& [input_name, shape] : fixed) {
    const std::string& name = input_name;  // clang 14 cannot capture a structured binding
    if (std::none_of(inputs.begin(), inputs.end(), [&](const ir::Value* v) { return v->name() == name; })) {
      std::vector<std::string> names;
      for (const ir::Value* v : inputs) names.push_back(v->name());
      throw_bad_input("--input-shape names '{}', which is not a graph input (inputs: {})", name, fmt::join(names, ", "));
    }
  }
  std::map<std::string, int64_t> by_name;
  for (ir::Value* v : inputs) {
    auto f = fixed.find(v->name());
    if (f == fixed.end()) {
      if (!v->type || v->type->kind != ir::TypeInfo::Kind::kTensor || !v->type->shape) continue;
      std::vector<ir::Dim>& dims = *v->type->shape;
      if (dims.empty() || dims[0].value) continue;
      r.batch.push_back(dim_label(*v, 0, dims[0]));
      if (!dims[0].param.empty()) by_name.emplace(dims[0].param, 1);
      dims[0] = ir::Dim::of(1);
      continue;
    }
    if (!v->type) v->type = ir::TypeInfo{};
    if (v->type->kind != ir::TypeInfo::Kind::kTensor) throw_bad_input("--input-shape {}: the input is not a tensor", v->name());
    const std::vector<int64_t>& shape = f->second;
    if (v->type->shape) {
      const std::vector<ir::Dim>& dims = *v->type->shape;
      if (dims.size() != shape.size()) {
        throw_bad_input("--input-shape {}: {} dims given, the model's input has rank {}", v->name(), shape.size(), dims.size());
      }
      for (size_t i = 0; i < dims.size(); ++i) {
        const ir::Dim& d = dims[i];
        if (d.value && *d.value != shape[i]) {
          throw_bad_input("--input-shape {}: axis {} is {} in the model, not {}", v->name(), i, *d.value, shape[i]);
        }
        if (i == 0 && !d.value && shape[0] != 1) {
          throw_bad_input("--input-shape {}: axis 0 is the batch ('{}'), which MACs count per sample: give 1 there",
                          v->name(), dim_label(*v, 0, d));
        }
        if (!d.value && !d.param.empty()) by_name.emplace(d.param, shape[i]);
      }
    }
    v->type->shape = std::vector<ir::Dim>{};
    for (int64_t d : shape) v->type->shape->push_back(ir::Dim::of(d));
  }
  substitute(g, by_name);
}

}  // namespace

ModelMacs model_macs(ir::Model& model, const InputShapes& fixed) {
  ir::Graph& g = *model.graph;
  TypeSnapshot recorded;
  snapshot(g, recorded);
  ModelMacs r;
  try {
    fix_inputs(g, fixed, r);
    ShapeInferenceOptions lenient;
    lenient.strict = false;
    try {
      infer_shapes(model, lenient);
    } catch (const Error& e) {  // MACs of the ops before the failing node may still be known
      r.inference_error = e.what();
    }
    const GraphMacs m = graph_macs(g);
    r.counted_nodes = m.counted_nodes;
    r.unknown_nodes = m.unknown_nodes;
    if (m.unknown_nodes == 0) r.macs = m.macs;
    for (const ir::Value* v : data_inputs(g)) {
      if (!v->type || !v->type->shape) continue;
      for (size_t i = 0; i < v->type->shape->size(); ++i) {
        const ir::Dim& d = (*v->type->shape)[i];
        const std::string label = dim_label(*v, i, d);
        if (!d.value && std::find(r.unknown_dims.begin(), r.unknown_dims.end(), label) == r.unknown_dims.end()) {
          r.unknown_dims.push_back(label);
        }
      }
    }
  } catch (...) {
    for (auto& [v, t] : recorded) v->type = std::move(t);
    throw;
  }
  for (auto& [v, t] : recorded) v->type = std::move(t);
  return r;
}

}  // namespace scalec::kernels
