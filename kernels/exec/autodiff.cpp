#include "kernels/exec/autodiff.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <memory>

#include "ir/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/exec/shape_inference.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

bool is_differentiable_type(ir::DType t) {
  return t == ir::DType::kFloat || t == ir::DType::kDouble || t == ir::DType::kFloat16 || t == ir::DType::kBFloat16;
}

namespace {

// A value's element type from its initializer or its inferred type (Shape, Size, Cast to int and
// their arithmetic are integer even when the model records nothing); float only when inference
// cannot tell (the backward pass checks the real tensors again).
bool may_be_differentiable(const ir::Value* v, const TypeMap& types) {
  if (v->initializer) return is_differentiable_type(v->initializer->dtype());
  const ir::TypeInfo* t = type_of(types, v);
  if (t && t->kind == ir::TypeInfo::Kind::kTensor && t->elem_type != 0) return is_differentiable_type(t->dtype());
  return true;
}

// Inferred types of the main graph; the recorded ones alone where inference stops on a
// contradiction (the Executor reports that one when it runs the node).
TypeMap types_for_gradients(const ir::Model& model) {
  try {
    return inferred_types(model);
  } catch (const Error&) {
    return {};
  }
}

// into += g, elementwise; shapes must match (rules reduce broadcasting themselves).
void accumulate(ir::Tensor& into, const ir::Tensor& g, const std::string& what) {
  if (into.shape() != g.shape() || into.dtype() != g.dtype()) {
    throw_internal("gradients of '{}' disagree: {} {} vs {} {}", what, ir::dtype_name(into.dtype()),
                   ir::shape_to_string(into.shape()), ir::dtype_name(g.dtype()), ir::shape_to_string(g.shape()));
  }
  dispatch_float(into.dtype(), what, [&](auto tag) {
    using T = decltype(tag);
    T* a = into.mutable_values<T>().data();
    const T* b = g.values<T>().data();
    for (int64_t i = 0; i < into.numel(); ++i) a[i] = static_cast<T>(a[i] + b[i]);
    return 0;
  });
}

}  // namespace

Autodiff::Autodiff(const ir::Model& model, std::vector<const ir::Value*> wrt) : model_(model), wrt_(std::move(wrt)) {
  const ir::Graph& g = *model.graph;
  std::unordered_set<const ir::Value*> reach(wrt_.begin(), wrt_.end());  // depends on a wrt value
  std::vector<ir::Node*> order = g.topological_order();
  const TypeMap types = types_for_gradients(model);
  for (ir::Node* n : order) {
    bool any = std::any_of(n->inputs().begin(), n->inputs().end(), [&](const ir::Value* v) { return v && reach.count(v); });
    if (!any) continue;
    for (ir::Value* v : n->outputs()) {
      if (v && may_be_differentiable(v, types)) reach.insert(v);
    }
  }
  // Keep only values from which a graph output is reachable: gradients start there.
  std::unordered_set<const ir::Value*> useful(g.outputs.begin(), g.outputs.end());
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    ir::Node* n = *it;
    bool feeds_output = std::any_of(n->outputs().begin(), n->outputs().end(),
                                    [&](const ir::Value* v) { return v && useful.count(v) && reach.count(v); });
    if (!feeds_output) continue;
    bool needs_rule = false;
    for (ir::Value* v : n->inputs()) {
      if (v && reach.count(v)) {
        useful.insert(v);
        needs_rule = true;
      }
    }
    const OpDef* op = OpRegistry::instance().find(n->domain(), n->op_type(), model.opset_version(n->domain()));
    if (needs_rule && (op == nullptr || !op->backward)) {
      throw_bad_input("[{}] node '{}': no backward rule for {}, so scalec cannot train through it", n->op_type(), n->name,
                      n->op_type());
    }
  }
  for (const ir::Value* v : reach) {
    if (useful.count(v)) differentiable_.push_back(v);
  }
  std::sort(differentiable_.begin(), differentiable_.end());
}

bool Autodiff::carries_gradient(const ir::Value* v) const {
  return std::binary_search(differentiable_.begin(), differentiable_.end(), v);
}

std::vector<ir::Tensor> Autodiff::backward(Executor& forward, const NamedTensors& doutputs,
                                           const std::function<void(size_t, const ir::Tensor&)>& on_ready) const {
  if (!forward.training()) throw_internal("Autodiff::backward needs an Executor built for training");
  std::unordered_map<const ir::Value*, ir::Tensor> grads;
  for (const auto& [output_name, dy] : doutputs) {
    const std::string& name = output_name;  // clang 14 cannot capture a structured binding
    auto it = std::find_if(model_.graph->outputs.begin(), model_.graph->outputs.end(),
                           [&](const ir::Value* v) { return v->name() == name; });
    if (it == model_.graph->outputs.end()) throw_internal("gradient given for '{}', which is not a graph output", name);
    if (!carries_gradient(*it)) continue;
    auto [slot, fresh] = grads.try_emplace(*it, dy);
    if (!fresh) accumulate(slot->second, dy, name);
  }

  const std::vector<TapeEntry>& tape = forward.tape();
  // For on_ready: the tape entries after which each wrt value's gradient is complete (its first consumer).
  std::vector<std::vector<size_t>> complete_after;
  if (on_ready) {
    std::unordered_map<const ir::Value*, size_t> first_use;
    bool subgraphs = false;  // a subgraph may read any outer value: then nothing is reported early
    for (size_t i = 0; i < tape.size() && !subgraphs; ++i) {
      for (const ir::Value* v : tape[i].node->inputs()) {
        if (v) first_use.try_emplace(v, i);
      }
      for (const ir::Attribute& a : tape[i].node->attributes()) subgraphs = subgraphs || a.g || !a.graphs.empty();
    }
    if (subgraphs) first_use.clear();
    complete_after.resize(tape.size());
    for (size_t k = 0; k < wrt_.size(); ++k) {
      auto it = first_use.find(wrt_[k]);
      if (it != first_use.end()) complete_after[it->second].push_back(k);
    }
  }
  auto report_ready = [&](size_t entry) {
    if (!on_ready) return;
    for (size_t k : complete_after[entry]) {
      auto it = grads.find(wrt_[k]);
      if (it != grads.end()) on_ready(k, it->second);
    }
  };
  std::vector<const ir::Tensor*> inputs, douts;
  // One tape entry's backward rule: its output gradients to its wanted inputs' gradients.
  auto differentiate = [&](const TapeEntry* e) {
    const ir::Node& n = *e->node;
    douts.assign(e->outputs.size(), nullptr);
    bool any_grad = false;
    for (size_t i = 0; i < n.outputs().size(); ++i) {
      auto it = n.output(i) ? grads.find(n.output(i)) : grads.end();
      if (it != grads.end()) {
        douts[i] = &it->second;
        any_grad = true;
      }
    }
    if (!any_grad) return;
    // If/Loop/Scan run without a kernel (control_flow.h) and have no backward rule; the constructor
    // refuses a model whose gradients would pass through one, so none reaches here.
    if (e->op == nullptr) throw_internal("[{}] node '{}': a gradient reached control flow", n.op_type(), n.name);
    std::unique_ptr<bool[]> wants(new bool[n.inputs().size()]);
    bool any_want = false;
    inputs.clear();
    for (size_t i = 0; i < n.inputs().size(); ++i) {
      const ir::Value* v = n.input(i);
      wants[i] = v && carries_gradient(v) && is_differentiable_type(e->inputs[i].dtype());
      any_want = any_want || wants[i];
      inputs.push_back(e->input_given[i] ? &e->inputs[i] : nullptr);
    }
    if (!any_want) return;
    OpContext fctx(n, e->opset, inputs, forward.pool(), RunMode{true, 0});
    GradContext gctx(fctx, e->outputs, douts, std::span<const bool>(wants.get(), n.inputs().size()));
    std::vector<ir::Tensor> dins = e->op->backward(gctx);
    for (size_t i = 0; i < n.inputs().size(); ++i) {
      if (!wants[i]) continue;
      if (i >= dins.size() || dins[i].dtype() == ir::DType::kUndefined) continue;  // not differentiable here
      if (dins[i].shape() != e->inputs[i].shape()) {
        throw_internal("{} backward gave input {} a gradient of shape {} for shape {}", gctx.where(), i,
                       ir::shape_to_string(dins[i].shape()), ir::shape_to_string(e->inputs[i].shape()));
      }
      auto [slot, fresh] = grads.try_emplace(n.input(i), std::move(dins[i]));
      if (!fresh) accumulate(slot->second, dins[i], n.input(i)->name());
    }
    // Output gradients are consumed: free them (the tape keeps the forward values).
    for (const ir::Value* v : n.outputs()) {
      if (v) grads.erase(v);
    }
  };
  for (size_t entry = tape.size(); entry-- > 0;) {
    differentiate(&tape[entry]);
    report_ready(entry);
  }

  std::vector<ir::Tensor> out;
  for (const ir::Value* v : wrt_) {
    auto it = grads.find(v);
    out.push_back(it != grads.end() ? std::move(it->second) : ir::Tensor());
  }
  return out;
}

}  // namespace scalec::kernels
