#pragma once
// Shape-rule test cases: one node in a fresh model, its inputs typed (possibly symbolic), known
// (initializers) or omitted, run through infer_shapes without folding so the op's rule alone
// decides; results as strings like "float[N, 3]" ("?" an unknown dim, "float[...]" an unknown rank).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "ir/type_info.h"
#include "kernels/exec/shape_inference.h"

namespace scalec::test {

/// One input of a shape case.
struct ShapeInput {
  std::optional<ir::TypeInfo> type;  ///< a graph input of this type
  std::optional<ir::Tensor> value;   ///< or an initializer with this data
};

/// A dim: a number, or a symbolic name such as "N".
struct D {
  ir::Dim dim;
  D(int64_t v) : dim(ir::Dim::of(v)) {}  // NOLINT: terse case tables
  D(int v) : dim(ir::Dim::of(v)) {}      // NOLINT
  D(const char* name) : dim(name[0] == '?' ? ir::Dim{} : ir::Dim::named(name)) {}  // NOLINT
};

/// A graph input of element type `t` and the given dims ("?" unknown, "N" symbolic).
inline ShapeInput typed(ir::DType t, std::vector<D> dims) {
  std::vector<ir::Dim> ds;
  for (const D& d : dims) ds.push_back(d.dim);
  return {ir::TypeInfo::tensor(t, std::move(ds)), std::nullopt};
}
/// A graph input of element type `t` and unknown rank.
inline ShapeInput any_rank(ir::DType t) {
  ir::TypeInfo ti;
  ti.elem_type = static_cast<int32_t>(t);
  return {ti, std::nullopt};
}
/// An input whose data is known.
inline ShapeInput known(ir::Tensor v) { return {std::nullopt, std::move(v)}; }
/// An omitted optional input ("").
inline ShapeInput omitted() { return {}; }
/// A known int64 vector.
inline ShapeInput known_ints(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return known(ir::Tensor::from_int64s({n}, v));
}

/// A known int64 scalar.
inline ShapeInput known_scalar(int64_t v) {
  const std::vector<int64_t> one{v};
  return known(ir::Tensor::from_int64s({}, one));
}

/// Attributes, terse.
inline ir::Attribute attr_i(const std::string& name, int64_t v) { return ir::GraphBuilder::attr(name, v); }
inline ir::Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
  return ir::GraphBuilder::attr(name, std::move(v));
}
inline ir::Attribute attr_s(const std::string& name, const std::string& v) { return ir::GraphBuilder::attr(name, v); }

/// The inferred output types of one `op` node at `opset`, as strings.
inline std::vector<std::string> infer_node(const std::string& op, const std::vector<ShapeInput>& inputs,
                                           std::vector<ir::Attribute> attrs = {}, int64_t opset = 17,
                                           size_t n_outputs = 1) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", opset}};
  m.graph = std::make_unique<ir::Graph>("main");
  ir::GraphBuilder b(*m.graph);
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ShapeInput& in = inputs[i];
    const std::string name = "in" + std::to_string(i);
    if (in.value) {
      ins.push_back(b.initializer(name, *in.value));
    } else if (in.type) {
      ir::Value* v = b.input(name, ir::DType::kFloat, std::vector<ir::Dim>{});
      v->type = in.type;
      ins.push_back(v);
    } else {
      ins.push_back(nullptr);
    }
  }
  std::vector<ir::Value*> outs = b.op_n(op, ins, n_outputs, std::move(attrs));
  for (ir::Value* v : outs) b.output(v);
  kernels::ShapeInferenceOptions opts;
  opts.fold_constants = false;
  kernels::infer_shapes(m, opts);
  std::vector<std::string> result;
  for (ir::Value* v : outs) {
    if (!v->type) result.push_back("none");
    else if (!v->type->shape) result.push_back(std::string(ir::dtype_name(v->type->dtype())) + "[...]");
    else result.push_back(ir::type_to_string(*v->type));
  }
  return result;
}

/// The type of the single output.
inline std::string infer1(const std::string& op, const std::vector<ShapeInput>& inputs,
                          std::vector<ir::Attribute> attrs = {}, int64_t opset = 17) {
  return infer_node(op, inputs, std::move(attrs), opset, 1).front();
}

}  // namespace scalec::test
