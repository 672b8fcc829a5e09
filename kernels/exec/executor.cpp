#include "kernels/exec/executor.h"

#include <algorithm>
#include <unordered_map>

#include "ir/error.h"
#include "ir/printable.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/exec/control_flow.h"
#include "kernels/exec/fusion.h"
#include "kernels/exec/run_limits.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/op_schema.h"

namespace scalec::kernels {

struct Executor::Step {
  const ir::Node* node;
  const OpDef* op;
  int64_t opset;
  std::optional<Fusion> fusion;    ///< the chain this node heads, run fused when no tap needs its inside
  std::vector<size_t> fused_steps;  ///< with `fusion`: the absorbed nodes' steps
  std::vector<const ir::Value*> outer_reads;  ///< If/Loop/Scan: what their subgraphs read from this graph
};

namespace {

bool same_shape_as_recorded(const ir::TypeInfo& t, const ir::Tensor& x) {
  if (t.kind != ir::TypeInfo::Kind::kTensor || !t.shape) return true;
  if (t.shape->size() != x.shape().size()) return false;
  for (size_t i = 0; i < t.shape->size(); ++i) {
    const ir::Dim& d = (*t.shape)[i];
    if (d.value && *d.value != x.shape()[i]) return false;
  }
  return true;
}

// A graph output whose declared type contradicts the computed tensor (dtype, rank or a fixed dim).
void check_declared_output(const ir::Value& v, const ir::Tensor& x) {
  if (!v.type || v.type->kind != ir::TypeInfo::Kind::kTensor || lenient_outputs()) return;
  const bool dtype_differs = v.type->elem_type != 0 && v.type->dtype() != x.dtype();
  if (dtype_differs || !same_shape_as_recorded(*v.type, x)) {
    throw_bad_input("model output '{}' is declared {} but the model computes {}{} (--lenient keeps the computed one)",
                    ir::printable(v.name()), ir::type_to_string(*v.type), ir::dtype_name(x.dtype()),
                    ir::shape_to_string(x.shape()));
  }
}

}  // namespace

Executor::Executor(const ir::Model& model, const ExecutorOptions& options)
    : model_(model), options_(options), pool_(std::make_unique<ThreadPool>(options.threads)) {
  const OpRegistry& registry = OpRegistry::instance();
  if (model.graph->outputs.empty()) throw_bad_input("the model's graph has no outputs, so there is nothing to compute");
  for (ir::Node* n : model.graph->topological_order()) {
    int64_t opset = model.opset_version(n->domain());
    if (is_control_flow(*n, opset)) {  // run here, subgraph by subgraph (kernels/exec/control_flow.h)
      check_node_schema(NodeAttrs(*n, opset));
      check_control_flow(model, *n);
      steps_.push_back({n, nullptr, opset, std::nullopt, {}, subgraph_outer_reads(*n)});
      continue;
    }
    const OpDef* op = registry.find(n->domain(), n->op_type(), opset);
    if (op == nullptr) {
      std::string domain = n->domain().empty() ? "ai.onnx" : n->domain();
      if (registry.knows(n->domain(), n->op_type())) {
        throw_bad_input("[{}] node '{}': scalec does not implement {} for {} opset {}", ir::printable(n->op_type()),
                        ir::printable(n->name), ir::printable(n->op_type()), ir::printable(domain), opset);
      }
      throw_bad_input("[{}] node '{}': unsupported op {}::{} (opset {})", ir::printable(n->op_type()),
                      ir::printable(n->name), ir::printable(domain), ir::printable(n->op_type()), opset);
    }
    check_node_schema(NodeAttrs(*n, opset));
    steps_.push_back({n, op, opset, std::nullopt, {}, {}});
  }
  // Fusions (kernels/exec/fusion.h). Conv+Relu/Clip: MobileNetV2 batch 1, 2 threads 18-20 -> 27-29
  // samples/s (3 back-to-back runs). The training tape needs every node's output, so only
  // inference runs fuse. A node joins at most one fusion.
  if (options_.training) return;
  std::unordered_map<const ir::Node*, size_t> index;
  for (size_t i = 0; i < steps_.size(); ++i) index[steps_[i].node] = i;
  std::vector<char> absorbed(steps_.size(), 0);
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (absorbed[i]) continue;
    std::optional<Fusion> f = plan_fusion(model, *steps_[i].node);
    if (!f) continue;
    std::vector<size_t> later;
    for (const ir::Node* n : f->absorbed) later.push_back(index.at(n));
    if (std::any_of(later.begin(), later.end(), [&](size_t j) { return j <= i || absorbed[j] || steps_[j].fusion; })) {
      continue;
    }
    for (size_t j : later) absorbed[j] = 1;
    steps_[i].fusion = std::move(f);
    steps_[i].fused_steps = std::move(later);
  }
}

Executor::~Executor() = default;

int Executor::pool_threads() const { return pool_->threads(); }

void Executor::add_tap(const ir::Value* value, Tap tap) { taps_[value].push_back(std::move(tap)); }

NamedTensors Executor::run(const NamedTensors& feeds, uint64_t seed) {
  const ir::Graph& g = *model_.graph;
  std::unordered_map<const ir::Value*, ir::Tensor> live;
  std::unordered_map<const ir::Value*, size_t> remaining_uses;
  // Activation bytes are counted per storage: views (Reshape, Identity, ...) share their input's
  // storage and add nothing; weights and feeds are not activations.
  std::unordered_map<const ir::Storage*, size_t> storage_refs;
  size_t live_bytes = 0, peak = 0;
  auto acquire = [&](const ir::Tensor& t) {
    const ir::Storage* s = t.storage().get();
    if (s != nullptr && storage_refs[s]++ == 0) live_bytes += s->size();
  };
  auto release = [&](const ir::Tensor& t) {
    const ir::Storage* s = t.storage().get();
    auto it = storage_refs.find(s);
    if (s == nullptr || it == storage_refs.end()) return;
    if (--it->second == 0) {
      live_bytes -= s->size();
      storage_refs.erase(it);
    }
  };
  stats_ = {};
  tape_.clear();
  const RunMode mode{options_.training, seed};

  for (const ir::Value* v : g.initializers) {
    live[v] = *v->initializer;  // shares storage, no copy
    if (v->initializer->storage()) storage_refs[v->initializer->storage().get()] = 1u << 30;  // never freed
  }
  for (const ir::Value* v : g.inputs) {
    auto it = std::find_if(feeds.begin(), feeds.end(), [&](const auto& f) { return f.first == v->name(); });
    if (it == feeds.end()) {
      if (v->is_initializer()) continue;  // an input with a default value
      throw_bad_input("no data for model input '{}'", ir::printable(v->name()));
    }
    const ir::Tensor& x = it->second;
    if (v->type && v->type->elem_type != 0 && v->type->dtype() != x.dtype()) {
      throw_bad_input("model input '{}' is {} but the data is {}", ir::printable(v->name()), ir::dtype_name(v->type->dtype()),
                      ir::dtype_name(x.dtype()));
    }
    if (v->type && !same_shape_as_recorded(*v->type, x)) {
      throw_bad_input("model input '{}' expects {} but the data has shape {}", ir::printable(v->name()), ir::type_to_string(*v->type),
                      ir::shape_to_string(x.shape()));
    }
    live[v] = x;
    if (x.storage()) storage_refs[x.storage().get()] = 1u << 30;
  }
  for (const Step& s : steps_) {
    for (const ir::Value* v : s.node->inputs()) {
      if (v) ++remaining_uses[v];
    }
    for (const ir::Value* v : s.outer_reads) ++remaining_uses[v];
  }
  for (const ir::Value* v : g.outputs) ++remaining_uses[v];  // outputs are never released

  // Fusions with no tap on a value inside them (taps may be added after construction): the head's
  // step produces the chain's last output and the absorbed steps only release their inputs.
  std::vector<char> fused(steps_.size(), 0), skipped(steps_.size(), 0);
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (!steps_[i].fusion) continue;
    const auto inside = fusion_internal_values(*steps_[i].node, *steps_[i].fusion);
    if (std::any_of(inside.begin(), inside.end(), [&](const ir::Value* v) { return taps_.contains(v); })) continue;
    fused[i] = 1;
    for (size_t j : steps_[i].fused_steps) skipped[j] = 1;
  }

  const size_t tensor_limit = max_tensor_bytes();
  std::vector<const ir::Tensor*> inputs;
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    if (skipped[si]) {
      for (const ir::Value* v : s.node->inputs()) {
        if (v == nullptr || --remaining_uses[v] != 0 || v->producer() == nullptr) continue;
        if (auto it = live.find(v); it != live.end()) {  // the fused Conv's output never became live
          release(it->second);
          live.erase(it);
        }
      }
      continue;
    }
    inputs.clear();
    for (const ir::Value* v : s.node->inputs()) {
      if (v == nullptr) {
        inputs.push_back(nullptr);
        continue;
      }
      auto it = live.find(v);
      if (it == live.end()) throw_internal("value '{}' is used before it is computed", v->name());
      inputs.push_back(&it->second);
    }
    OpContext ctx(*s.node, s.opset, inputs, *pool_, mode);
    std::vector<ir::Tensor> outs;
    if (!s.op) {
      const OuterScope scope = [&live](const ir::Value* v) -> const ir::Tensor* {
        auto it = live.find(v);
        return it == live.end() ? nullptr : &it->second;
      };
      outs = run_control_flow(model_, *s.node, inputs, scope, *pool_);
    } else {
      check_output_bytes(*s.op, ctx, tensor_limit);  // before the kernel allocates
      if (fused[si]) outs.push_back(run_fusion(ctx, *s.fusion));
      else outs = s.op->forward_cpu(ctx);
    }
    const ir::Node& out_node = fused[si] ? *s.fusion->absorbed.back() : *s.node;  // whose outputs `outs` are
    if (outs.size() < s.node->outputs().size()) {
      throw_internal("{} returned {} outputs, the node declares {}", ctx.where(), outs.size(), s.node->outputs().size());
    }
    if (options_.training) {
      TapeEntry& e = tape_.emplace_back(TapeEntry{s.node, s.op, s.opset, {}, {}, outs});
      for (const ir::Tensor* t : inputs) {
        e.inputs.push_back(t ? *t : ir::Tensor());
        e.input_given.push_back(t != nullptr);
      }
    }
    for (size_t i = 0; i < out_node.outputs().size(); ++i) {
      const ir::Value* v = out_node.output(i);
      if (v == nullptr) continue;
      acquire(outs[i]);
      if (auto t = taps_.find(v); t != taps_.end()) {
        for (const Tap& tap : t->second) tap(*v, outs[i]);
      }
      live[v] = std::move(outs[i]);
    }
    peak = std::max(peak, live_bytes);
    // Release what no later node reads (a training run keeps everything for the backward pass).
    if (options_.training) continue;
    auto done_with = [&](const ir::Value* v) {
      if (v == nullptr) return;
      if (--remaining_uses[v] == 0 && v->producer() != nullptr) {
        auto it = live.find(v);
        release(it->second);
        live.erase(it);
      }
    };
    for (const ir::Value* v : s.node->inputs()) done_with(v);
    for (const ir::Value* v : s.outer_reads) done_with(v);
    for (const ir::Value* v : out_node.outputs()) {
      if (v && remaining_uses[v] == 0) {  // produced but never read
        auto it = live.find(v);
        release(it->second);
        live.erase(it);
      }
    }
  }
  stats_.peak_activation_bytes = peak;

  NamedTensors result;
  for (const ir::Value* v : g.outputs) {
    auto it = live.find(v);
    if (it == live.end()) throw_internal("graph output '{}' was not computed", v->name());
    check_declared_output(*v, it->second);
    result.emplace_back(v->name(), it->second);
  }
  return result;
}

}  // namespace scalec::kernels
