#include "passes/cleanup/canonicalize.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "kernels/exec/node_eval.h"
#include "kernels/exec/shape_inference.h"

namespace scalec::passes {

namespace {

// Ops whose output is not a function of their inputs (random draws; Dropout in training), or
// whose folding would undo what the model means (a QDQ weight stays quantized).
const std::set<std::string> kNeverFold = {
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
    "Dropout", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"};

bool is_default_domain(const ir::Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// Constant data that no feed can override: an initializer that is not also a graph input.
bool is_constant(const ir::Value* v) {
  if (!v->initializer) return false;
  const auto& inputs = v->owner()->inputs;
  return std::find(inputs.begin(), inputs.end(), v) == inputs.end();
}

bool has_subgraph(const ir::Node& n) {
  return std::any_of(n.attributes().begin(), n.attributes().end(),
                     [](const ir::Attribute& a) { return a.g || !a.graphs.empty(); });
}

// Outputs of `g` and of every graph nested in it: values that must keep their producers.
void collect_outputs(const ir::Graph& g, std::unordered_set<const ir::Value*>& out) {
  out.insert(g.outputs.begin(), g.outputs.end());
  for (const auto& n : g.nodes()) {
    for (const ir::Attribute& a : n->attributes()) {
      if (a.g) collect_outputs(*a.g, out);
      for (const auto& sub : a.graphs) {
        if (sub) collect_outputs(*sub, out);
      }
    }
  }
}

// Bytes the outputs `types` describe; nullopt when a type or a dimension is unknown.
std::optional<int64_t> output_bytes(const ir::Node& n, const std::vector<ir::TypeInfo>& types) {
  int64_t bytes = 0;
  for (size_t i = 0; i < n.outputs().size(); ++i) {
    if (n.output(i) == nullptr) continue;
    const ir::TypeInfo& t = types[i];
    if (t.kind != ir::TypeInfo::Kind::kTensor || t.elem_type == 0 || !t.shape) return std::nullopt;
    int64_t numel = 1;
    for (const ir::Dim& d : *t.shape) {
      if (!d.value || *d.value < 0) return std::nullopt;
      numel *= *d.value;
    }
    bytes += static_cast<int64_t>(ir::dtype_storage_bytes(t.dtype(), numel));
  }
  return bytes;
}

class Canonicalizer {
 public:
  Canonicalizer(ir::Model& model, const CanonicalizeOptions& options, CanonicalizeStats& stats)
      : model_(model), options_(options), stats_(stats), eval_(1) {}

  // One round of folding and dead-code removal over `g` and its subgraphs; true when it changed.
  bool round(ir::Graph& g) {
    bool changed = false;
    for (const auto& n : g.nodes()) {
      for (ir::Attribute& a : n->mutable_attributes()) {
        if (a.g) changed |= round(*a.g);
        for (const auto& sub : a.graphs) {
          if (sub) changed |= round(*sub);
        }
      }
    }
    std::unordered_set<const ir::Value*> outputs;
    collect_outputs(g, outputs);
    for (ir::Node* n : g.topological_order()) changed |= fold(g, n, outputs);
    changed |= remove_dead(g, outputs);
    return changed;
  }

 private:
  // Runs `n` once when every input is constant and replaces it by initializers of its outputs' names.
  bool fold(ir::Graph& g, ir::Node* n, const std::unordered_set<const ir::Value*>& outputs) {
    if (!is_default_domain(*n) || kNeverFold.count(n->op_type()) || has_subgraph(*n)) return false;
    std::vector<const ir::Tensor*> inputs;
    for (const ir::Value* v : n->inputs()) {
      if (v && !is_constant(v)) return false;
      inputs.push_back(v ? &*v->initializer : nullptr);
    }
    bool any_output = false;
    for (const ir::Value* v : n->outputs()) {
      if (v && (outputs.count(v) || !v->uses().empty())) any_output = true;
      if (v && outputs.count(v)) return false;  // a graph output keeps its producer
    }
    if (!any_output) return false;  // dead: remove_dead takes it
    // BatchNormalization's scale, bias and statistics are its own even when an exporter shared them:
    // torch.onnx.export deduplicates equal tensors, so every fresh BatchNorm's running mean (zeros)
    // and variance (ones) read one layer's bias and weight through Identity nodes. Training updates
    // statistics in place and prunes per layer, so such an Identity folds into a copy of its own.
    const auto feeds_batchnorm = [](const ir::Value* v) {
      return std::any_of(v->uses().begin(), v->uses().end(), [](const ir::Use& u) {
        return u.node->op_type() == "BatchNormalization" && is_default_domain(*u.node) && u.input_index >= 1;
      });
    };
    if (n->op_type() == "Identity" && inputs.size() == 1 && inputs[0] != nullptr && !feeds_batchnorm(n->output(0))) {
      // A weight an exporter shares through Identity nodes (tied embeddings, PyTorch's shared
      // parameters) stays one initializer: its readers read the source, not a copy each.
      g.replace_all_uses(n->output(0), n->input(0));
      g.remove_node(n);
      ++stats_.folded;
      return true;
    }
    const bool is_constant_node = n->op_type() == "Constant";
    const int64_t opset = model_.opset_version(n->domain());
    std::vector<ir::Tensor> results;
    try {
      if (!is_constant_node) {
        std::optional<std::vector<ir::TypeInfo>> types = eval_.infer(*n, opset, inputs);
        if (!types) return false;
        std::optional<int64_t> bytes = output_bytes(*n, *types);
        if (!bytes || *bytes > options_.max_fold_bytes) return false;
      }
      results = eval_.run(*n, opset, inputs);
    } catch (const Error& e) {
      // Left as a node: the Executor reports the same problem if the node ever runs.
      spdlog::debug("canonicalize: {} node '{}' not folded: {}", n->op_type(), n->name, e.what());
      return false;
    }
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      if (n->output(i) == nullptr) continue;
      if (i >= results.size() || results[i].dtype() == ir::DType::kUndefined || results[i].dtype() == ir::DType::kString) {
        return false;
      }
    }
    // Keep each output Value (its name, recorded type and uses): park the uses on a placeholder,
    // remove the node, make the value an initializer, and point the uses back.
    std::vector<std::pair<ir::Value*, ir::Value*>> parked;
    for (ir::Value* v : n->outputs()) {
      if (v == nullptr) continue;
      ir::Value* tmp = g.create_value(g.unique_name(v->name() + "__canonicalize"));
      g.replace_all_uses(v, tmp);
      parked.emplace_back(v, tmp);
    }
    std::vector<ir::Value*> outs = n->outputs();
    g.remove_node(n);
    for (size_t i = 0; i < outs.size(); ++i) {
      if (outs[i] == nullptr) continue;
      outs[i]->initializer = std::move(results[i]);
      g.initializers.push_back(outs[i]);
    }
    for (const auto& [v, tmp] : parked) g.replace_all_uses(tmp, v);
    ++(is_constant_node ? stats_.constants : stats_.folded);
    return true;
  }

  // Removes nodes none of whose outputs is read (repeatedly, last first), then unread initializers.
  bool remove_dead(ir::Graph& g, const std::unordered_set<const ir::Value*>& outputs) {
    bool changed = false;
    std::vector<ir::Node*> order = g.topological_order();
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      ir::Node* n = *it;
      if (n->outputs().empty()) continue;
      bool dead = std::all_of(n->outputs().begin(), n->outputs().end(), [&](const ir::Value* v) {
        return v == nullptr || (v->uses().empty() && !outputs.count(v));
      });
      if (!dead) continue;
      g.remove_node(n);
      ++stats_.dead_nodes;
      changed = true;
    }
    const size_t before = g.initializers.size();
    std::erase_if(g.initializers, [&](ir::Value* v) {
      return v->uses().empty() && !outputs.count(v) && std::find(g.inputs.begin(), g.inputs.end(), v) == g.inputs.end();
    });
    stats_.dead_initializers += before - g.initializers.size();
    changed |= before != g.initializers.size();
    g.remove_unused_values();
    return changed;
  }

  ir::Model& model_;
  const CanonicalizeOptions& options_;
  CanonicalizeStats& stats_;
  kernels::NodeEvaluator eval_;
};

// Records inferred types of the main graph's intermediate values (and of outputs that record
// none); returns how many gained or refined a type. Graph inputs and typed outputs keep their
// types exactly (dynamic dims stay symbolic); initializers get no value_info (their tensors say it).
size_t record_shapes(ir::Model& model) {
  ir::Graph& g = *model.graph;
  // An op that contradicts its schema (a Conv stride of 0) is the model's error: named here,
  // before any pass works around it or an output is written.
  const kernels::TypeMap types = kernels::inferred_types(model);
  std::unordered_set<const ir::Value*> io(g.inputs.begin(), g.inputs.end());
  for (const ir::Value* v : g.outputs) {
    if (v->type) io.insert(v);
  }
  size_t recorded = 0;
  for (const auto& [cv, t] : types) {
    if (cv->owner() != &g || cv->initializer || io.count(cv)) continue;
    ir::Value* v = g.find_value(cv->name());
    if (v != cv || (v->type && *v->type == t)) continue;
    if (t.elem_type == 0 && !t.shape) continue;
    v->type = t;
    ++recorded;
  }
  return recorded;
}

}  // namespace

CanonicalizeStats canonicalize(ir::Model& model, const CanonicalizeOptions& options) {
  CanonicalizeStats stats;
  Canonicalizer c(model, options, stats);
  // Each round folds in topological order, so chains fold in one round; the loop only catches
  // what dead-code removal uncovers. A bound keeps a surprise from spinning.
  for (int i = 0; i < 16 && c.round(*model.graph); ++i) {
  }
  model.graph->sort_topologically();
  if (options.record_shapes) stats.shapes_recorded = record_shapes(model);
  return stats;
}

std::string canonicalize_summary(const CanonicalizeStats& s) {
  return fmt::format(
      "canonicalize: {} Constant node{} -> initializers, {} node{} folded, {} dead node{} and {} unused initializer{} "
      "removed, {} shape{} recorded",
      s.constants, s.constants == 1 ? "" : "s", s.folded, s.folded == 1 ? "" : "s", s.dead_nodes,
      s.dead_nodes == 1 ? "" : "s", s.dead_initializers, s.dead_initializers == 1 ? "" : "s", s.shapes_recorded,
      s.shapes_recorded == 1 ? "" : "s");
}

std::string Canonicalize::run(ir::Model& model) { return canonicalize_summary(canonicalize(model, options_)); }

}  // namespace scalec::passes
