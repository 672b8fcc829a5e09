#pragma once
// Shape-rule tests: runs kernels::infer_shapes (no folding) on a one-node model whose inputs are
// graph inputs of given types or initializers of known data, and prints the inferred output types
// ("float[N, 8, ?]"), so a test states the expected type in one string.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "kernels/exec/shape_inference.h"

namespace scalec::test {

/// One node input: a graph input of a type, an initializer (known data), or omitted ("").
struct NodeInput {
  std::optional<ir::TypeInfo> type;
  std::optional<ir::Tensor> value;
  static NodeInput of(ir::DType t, std::vector<ir::Dim> dims) { return {ir::TypeInfo::tensor(t, std::move(dims)), {}}; }
  static NodeInput rank_unknown(ir::DType t) {
    ir::TypeInfo ti;
    ti.elem_type = static_cast<int32_t>(t);
    return {ti, {}};
  }
  static NodeInput known(ir::Tensor v) { return {{}, std::move(v)}; }
  static NodeInput none() { return {}; }
};

/// A known dimension.
inline ir::Dim dim(int64_t v) { return ir::Dim::of(v); }
/// A symbolic dimension.
inline ir::Dim dim(const char* name) { return ir::Dim::named(name); }
/// A dimension nothing is known about.
inline ir::Dim dim_unknown() { return ir::Dim{}; }

/// The inferred types of `op`'s `n_outputs` outputs at `opset`, as type_to_string prints them
/// ("?" for an output left untyped). Throws what infer_shapes throws.
inline std::vector<std::string> infer_node(const std::string& op, int64_t opset, std::vector<NodeInput> inputs,
                                           std::vector<ir::Attribute> attrs = {}, size_t n_outputs = 1) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", opset});
  m.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*m.graph);
  std::vector<ir::Value*> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    if (inputs[i].value) {
      values.push_back(b.initializer(name, *inputs[i].value));
    } else if (inputs[i].type) {
      ir::Value* v = m.graph->create_value(name);
      v->type = inputs[i].type;
      m.graph->inputs.push_back(v);
      values.push_back(v);
    } else {
      values.push_back(nullptr);
    }
  }
  std::vector<ir::Value*> outs = b.op_n(op, values, n_outputs, std::move(attrs));
  for (ir::Value* v : outs) m.graph->outputs.push_back(v);
  kernels::ShapeInferenceOptions opts;
  opts.fold_constants = false;
  kernels::infer_shapes(m, opts);
  std::vector<std::string> result;
  for (ir::Value* v : outs) result.push_back(v->type ? ir::type_to_string(*v->type) : "?");
  return result;
}

/// The first output's inferred type.
inline std::string infer_one(const std::string& op, int64_t opset, std::vector<NodeInput> inputs,
                             std::vector<ir::Attribute> attrs = {}) {
  return infer_node(op, opset, std::move(inputs), std::move(attrs)).front();
}

}  // namespace scalec::test
