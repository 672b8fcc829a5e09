#include "kernels/exec/shape_inference.h"

#include <algorithm>
#include <unordered_map>

#include "ir/error.h"
#include "ir/printable.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops/op_args.h"
#include "kernels/exec/control_flow.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/op_schema.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

std::optional<ir::TypeInfo> merge_types(const ir::TypeInfo& recorded, const ir::TypeInfo& inferred) {
  if (recorded.kind != ir::TypeInfo::Kind::kTensor || inferred.kind != ir::TypeInfo::Kind::kTensor) return recorded;
  ir::TypeInfo out = recorded;
  if (recorded.elem_type != 0 && inferred.elem_type != 0 && recorded.elem_type != inferred.elem_type) {
    return std::nullopt;
  }
  if (out.elem_type == 0) out.elem_type = inferred.elem_type;
  if (!inferred.shape) return out;
  if (!recorded.shape) {
    out.shape = inferred.shape;
    return out;
  }
  if (recorded.shape->size() != inferred.shape->size()) return std::nullopt;
  for (size_t i = 0; i < recorded.shape->size(); ++i) {
    ir::Dim& d = (*out.shape)[i];
    const ir::Dim& e = (*inferred.shape)[i];
    if (d.value && e.value && *d.value != *e.value) return std::nullopt;
    if (!d.value && e.value) {
      d.value = e.value;
      d.param.clear();
    } else if (!d.value && d.param.empty()) {
      d.param = e.param;
    }
  }
  return out;
}

namespace {

// Shape's output when its input's dims are all known (start/end from opset 15).
std::optional<ir::Tensor> shape_value(const InferContext& ctx) {
  const ir::TypeInfo& t = ctx.input_type(0);
  if (!t.shape || !shapes::all_known(*t.shape)) return std::nullopt;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : *t.shape) dims.push_back(*d.value);
  const auto [start, end] = shape_range(ctx, static_cast<int64_t>(dims.size()));
  std::vector<int64_t> picked(dims.begin() + start, dims.begin() + end);
  return ir::Tensor::from_int64s({static_cast<int64_t>(picked.size())}, picked);
}

ir::TypeInfo type_of_tensor(const ir::Tensor& t) { return ir::TypeInfo::tensor(t.dtype(), t.shape()); }

bool small_known(const std::vector<ir::TypeInfo>& types, int64_t limit) {
  for (const ir::TypeInfo& t : types) {
    if (!t.shape) return false;
    auto n = shapes::known_numel(*t.shape);
    if (!n || *n > limit) return false;
  }
  return true;
}

// Integer outputs are shape arithmetic (Size, Sub, Cast, Concat of dims): folded like ONNX's data
// propagation even when fold_constants is off, so Reshape/Range/Slice downstream get exact shapes.
bool integer_outputs(const std::vector<ir::TypeInfo>& types) {
  return !types.empty() && std::all_of(types.begin(), types.end(), [](const ir::TypeInfo& t) {
    return t.elem_type == static_cast<int32_t>(ir::DType::kInt64) || t.elem_type == static_cast<int32_t>(ir::DType::kInt32);
  });
}

}  // namespace

namespace {

// The shared walk: infers every node output of the main graph into `types` (recorded types are
// read through `recorded`, which falls back to Value::type), merging as merge_types does.
ShapeInferenceReport infer_into(const ir::Model& model, const ShapeInferenceOptions& options, TypeMap& types) {
  ShapeInferenceReport report;
  const ir::Graph& g = *model.graph;
  const OpRegistry& registry = OpRegistry::instance();
  ThreadPool pool(1);
  std::unordered_map<const ir::Value*, ir::Tensor> known;  // values computable before running
  ir::TypeInfo nothing;
  auto recorded = [&](const ir::Value* v) -> const ir::TypeInfo* {
    auto it = types.find(v);
    if (it != types.end()) return &it->second;
    return v->type ? &*v->type : nullptr;
  };

  for (const ir::Value* v : g.initializers) {
    known.emplace(v, *v->initializer);
    if (!recorded(v)) types[v] = type_of_tensor(*v->initializer);
  }

  std::vector<const ir::TypeInfo*> input_types;
  std::vector<const ir::Tensor*> values;
  for (const ir::Node* n : g.topological_order()) {
    input_types.clear();
    values.clear();
    bool all_inputs_known = true;
    for (const ir::Value* v : n->inputs()) {
      const ir::TypeInfo* t = v ? recorded(v) : nullptr;
      input_types.push_back(v ? (t ? t : &nothing) : nullptr);
      auto it = v ? known.find(v) : known.end();
      values.push_back(it != known.end() ? &it->second : nullptr);
      if (v && it == known.end()) all_inputs_known = false;
    }
    int64_t opset = model.opset_version(n->domain());
    if (is_control_flow(*n, opset)) {  // from the subgraphs' recorded outputs (kernels/exec/control_flow.h)
      std::vector<ir::TypeInfo> inferred = control_flow_types(*n, input_types);
      const std::vector<const ir::Value*> reads = subgraph_outer_reads(*n);
      // (inputs of bounded size: the outputs' own sizes are what running it finds out)
      // A Loop runs here only with a small trip count: its condition alone could keep it going.
      const bool bounded = n->op_type() != "Loop" || (!values.empty() && values[0] && values[0]->numel() == 1 &&
                                                     values[0]->dtype() == ir::DType::kInt64 &&
                                                     values[0]->values<int64_t>()[0] <= 4096);
      const bool computable =
          all_inputs_known && bounded &&
          std::all_of(values.begin(), values.end(), [&](const ir::Tensor* t) { return !t || t->numel() <= options.max_fold_elements; }) &&
          std::all_of(reads.begin(), reads.end(), [&](const ir::Value* v) { return known.count(v) > 0; });
      if (computable) {  // every value it reads is known: run it, as a small node is folded
        const OuterScope scope = [&known](const ir::Value* v) -> const ir::Tensor* {
          auto it = known.find(v);
          return it == known.end() ? nullptr : &it->second;
        };
        std::vector<ir::Tensor> outs = run_control_flow(model, *n, values, scope, pool);
        for (size_t i = 0; i < n->outputs().size() && i < outs.size(); ++i) {
          if (!n->output(i)) continue;
          inferred[i] = type_of_tensor(outs[i]);
          if (outs[i].numel() <= options.max_fold_elements) known.emplace(n->output(i), std::move(outs[i]));
        }
      }
      for (size_t i = 0; i < n->outputs().size() && i < inferred.size(); ++i) {
        const ir::Value* v = n->output(i);
        if (!v) continue;
        const ir::TypeInfo* before = recorded(v);
        std::optional<ir::TypeInfo> merged = before ? merge_types(*before, inferred[i]) : inferred[i];
        types[v] = merged ? *merged : *before;
        if (inferred[i].elem_type != 0 || inferred[i].shape) ++report.outputs_typed;
      }
      continue;
    }
    const OpDef* op = registry.find(n->domain(), n->op_type(), opset);
    if (op == nullptr || !op->infer) {
      report.nodes_without_rule.push_back(fmt::format("{} '{}'", ir::printable(n->op_type()), ir::printable(n->name)));
      continue;
    }
    InferContext ctx(*n, opset, input_types, values);
    check_node_schema(ctx);
    std::vector<ir::TypeInfo> inferred = op->infer(ctx);
    if (inferred.size() < n->outputs().size()) inferred.resize(n->outputs().size());

    // Known values: Shape of a static tensor, and small nodes whose inputs are all known.
    std::vector<std::optional<ir::Tensor>> folded(n->outputs().size());
    if (n->op_type() == "Shape" && n->domain().empty()) {
      folded[0] = shape_value(ctx);
    } else if ((options.fold_constants || n->op_type() == "Constant" || integer_outputs(inferred)) &&
               all_inputs_known && small_known(inferred, options.max_fold_elements)) {
      OpContext run_ctx(*n, opset, values, pool);
      std::vector<ir::Tensor> outs = op->forward_cpu(run_ctx);
      for (size_t i = 0; i < folded.size() && i < outs.size(); ++i) folded[i] = std::move(outs[i]);
    }

    for (size_t i = 0; i < n->outputs().size(); ++i) {
      const ir::Value* v = n->output(i);
      if (v == nullptr) continue;
      ir::TypeInfo t = folded[i] ? type_of_tensor(*folded[i]) : inferred[i];
      if (folded[i]) known.emplace(v, std::move(*folded[i]));
      if (t.elem_type != 0 || t.shape) ++report.outputs_typed;
      const ir::TypeInfo* before = recorded(v);
      if (!before) {
        types[v] = t;
        continue;
      }
      std::optional<ir::TypeInfo> merged = merge_types(*before, t);
      if (merged) {
        types[v] = *merged;
        continue;
      }
      std::string msg = fmt::format("{} output '{}': the model records {} but the op gives {}", ctx.where(), ir::printable(v->name()),
                                    ir::type_to_string(*before), ir::type_to_string(t));
      if (options.strict) throw_bad_input("{}", msg);
      report.conflicts.push_back(std::move(msg));
    }
  }
  return report;
}

}  // namespace

ShapeInferenceReport infer_shapes(ir::Model& model, const ShapeInferenceOptions& options) {
  TypeMap types;
  ShapeInferenceReport report = infer_into(model, options, types);
  for (auto& [v, t] : types) const_cast<ir::Value*>(v)->type = std::move(t);  // values of `model`, which is ours
  return report;
}

TypeMap inferred_types(const ir::Model& model) {
  ShapeInferenceOptions options;
  options.strict = false;
  TypeMap types;
  infer_into(model, options, types);
  for (const ir::Value* v : model.graph->inputs) {
    if (v->type && !types.count(v)) types[v] = *v->type;
  }
  return types;
}

}  // namespace scalec::kernels
