#include "passes/prune/prune_coverage.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "ir/model_stats.h"
#include "ir/node_attrs.h"
#include "ir/weight_slots.h"
#include "passes/core/constant.h"
#include "passes/prune/prunable.h"

namespace scalec::passes {

namespace {

// A float weight a node reads: an initializer or a Constant's output, with enough extent to be
// a layer's matrix (two dims > 1), or anything in a layer op's weight slot (LSTM/GRU/RNN: W and R
// only). Null otherwise.
const ir::Tensor* layer_weight(const ir::Graph& g, const ir::Node& n, size_t input) {
  const ir::Value* v = n.input(input);
  const ir::Tensor* t = v ? constant_tensor(g, v) : nullptr;
  if (!t || !ir::dtype_is_float(t->dtype())) return nullptr;
  // A recurrent node's matrices are W and R; B ([D, 2*G*H]) and the states are not.
  if (is_recurrent_layer(n)) return input == 1 || input == 2 ? t : nullptr;
  const auto slot = ir::weight_slot(n, t->rank());
  if (slot && slot->input == input) return t;
  return std::count_if(t->shape().begin(), t->shape().end(), [](int64_t d) { return d > 1; }) >= 2 ? t : nullptr;
}

// Adds the weight layers of `g` whose weights are not in `covered` or `seen` (each weight counted
// once, with its first reader), `why_left` saying why each is left; then those of its subgraphs,
// which prune does not enter.
void add_graph_layers(const ir::Graph& g, const std::set<std::string>& covered,
                      const std::function<std::string(const ir::Node&)>& why_left, std::set<const ir::Value*>& seen,
                      Coverage& c) {
  for (const ir::Node* n : g.topological_order()) {
    int64_t params = 0;
    std::string first_weight;
    bool from_constant = false;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      const ir::Tensor* t = layer_weight(g, *n, i);
      const ir::Value* v = n->input(i);
      if (!t || covered.count(v->name()) || !seen.insert(v).second) continue;
      params += t->numel();
      if (first_weight.empty()) first_weight = v->name();
      from_constant = from_constant || !v->is_initializer();
    }
    if (params == 0) continue;
    const std::string why = from_constant ? std::string("weights in Constant nodes") : why_left(*n);
    c.add(n->name.empty() ? first_weight : n->name, params, false, why);
  }
  const auto inside = [](const ir::Node&) {
    return std::string("inside an If/Loop/Scan body (prune does not descend into subgraphs yet)");
  };
  for (const auto& n : g.nodes()) {
    for (const ir::Attribute& a : n->attributes()) {
      if (a.kind == ir::Attribute::Kind::kGraph && a.g) add_graph_layers(*a.g, covered, inside, seen, c);
      for (const auto& sg : a.graphs) add_graph_layers(*sg, covered, inside, seen, c);
    }
  }
}

// Adds every weight layer the prune pass did not cover (`covered`), then the other float weights.
void add_other_layers(const ir::Model& model, const std::set<std::string>& covered,
                      const std::function<std::string(const ir::Node&)>& why_left, Coverage& c) {
  const ir::Graph& g = *model.graph;
  std::set<const ir::Value*> seen;
  add_graph_layers(g, covered, why_left, seen, c);
  const int64_t total = ir::compute_model_stats(g).parameters;
  c.add_other_params(std::max<int64_t>(0, total - c.params_total()));
}

}  // namespace

Coverage magnitude_coverage(const ir::Model& model, const std::vector<LayerPruneResult>& layers) {
  Coverage c;
  std::set<std::string> covered;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerPruneResult& l = layers[i];
    covered.insert(l.weight);
    bool changed = l.zeros_after > l.zeros_before;
    int64_t elements = l.elements;
    // A recurrent node's W and R (adjacent, same layer name) are one layer.
    const bool recurrent = l.op == "LSTM" || l.op == "GRU" || l.op == "RNN";
    while (recurrent && i + 1 < layers.size() && layers[i + 1].layer == l.layer && layers[i + 1].op == l.op) {
      const LayerPruneResult& next = layers[++i];
      covered.insert(next.weight);
      changed = changed || next.zeros_after > next.zeros_before;
      elements += next.elements;
    }
    std::string why = l.reason;
    if (why.empty() && !changed) {
      const int64_t wanted = std::llround(l.target * static_cast<double>(l.elements));
      why = l.target == 0 ? "sparsity 0" : l.zeros_before >= wanted ? "already at the target sparsity"
                                                                      : "no weight under the global threshold";
    }
    c.add(l.layer, elements, changed, why);
  }
  add_other_layers(model, covered, [](const ir::Node& n) {
    return fmt::format("{} weights (prune handles Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU, RNN)", n.op_type());
  }, c);
  return c;
}

Coverage channel_coverage(const ir::Model& original, const ChannelPruneReport& report) {
  Coverage c;
  std::set<std::string> covered;
  for (const ChannelPruneLayer& l : report.layers) {
    covered.insert(l.weight);
    const bool changed = l.channels_after < l.channels_before;
    std::string why = l.kind;
    if (why.empty() && !changed) why = "ratio removes no channel";
    c.add(l.name, l.weight_elements, changed, why);
  }
  add_other_layers(original, covered, [](const ir::Node& n) {
    // A depthwise or grouped Conv cuts channels only where a prunable layer's channels reach it.
    if (n.op_type() == "Conv" && ir::int_attr(n, "group", 1) != 1) {
      return std::string("grouped Conv on channels no prunable layer produces");
    }
    if (is_recurrent_layer(n)) return fmt::format("{} hidden units (channel pruning does not cut them)", n.op_type());
    return fmt::format("{} weights (channel pruning handles Conv, Gemm, MatMul)", n.op_type());
  }, c);
  return c;
}

double zero_share(const ir::Model& model) {
  const ir::ModelStats s = ir::compute_model_stats(*model.graph);
  double zeros = 0;
  for (const ir::WeightStats& w : s.weights) {
    if (w.is_parameter) zeros += static_cast<double>(w.numel) * w.sparsity;
  }
  return s.parameters > 0 ? zeros / static_cast<double>(s.parameters) : 0.0;
}

}  // namespace scalec::passes
