#include "passes/quantize/weight_only_pass.h"

#include <map>

#include <fmt/format.h>

#include "passes/quantize/quant_graph.h"
#include "passes/quantize/quant_layers.h"
#include "passes/quantize/recurrent_quant.h"
#include "passes/quantize/subgraph_layers.h"

namespace scalec::passes {

std::string QuantizeWeightOnly::run(ir::Model& model) {
  report_ = {};
  const quant::WeightQuantOptions& wo = options_.weights;
  (void)quant::int_range(wo.bits, wo.is_signed, wo.symmetric);  // validates bits
  const bool needs_21 = wo.bits == 4 || wo.granularity == quant::Granularity::kBlock;
  quant::require_opset(model, needs_21 ? 21 : 13, needs_21 ? "int4 or blockwise DequantizeLinear" : "per-channel DequantizeLinear");
  const quant::ValueTypes types(model);
  ir::Graph& g = *model.graph;
  std::vector<ir::Node*> todo;
  for (ir::Node* n : g.topological_order()) {
    if (!quant::is_layer_op(*n)) continue;
    const std::string& op = n->op_type();
    if (!options_.only_ops.empty() && !options_.only_ops.count(op)) continue;
    const std::string label = quant::node_label(g, n);
    std::string reason;
    if (options_.exclude_nodes.count(n->name)) reason = "excluded by --exclude-nodes";
    else if (options_.exclude_ops.count(op)) reason = "excluded by --exclude-ops";
    else if (quant::is_activation_matmul(g, types, *n)) reason = "MatMul of two activations (no weight to store)";
    else reason = quant::weight_reason(g, types, *n);
    if (reason.empty() && quant::float_weight(g, n->input(1))->rank() < 2) reason = "weight of rank < 2";
    if (reason.empty() && options_.keep_io_float) {
      for (const ir::Value* v : n->inputs()) {
        if (v && quant::is_graph_input(g, v) && !v->is_initializer()) reason = "reads a graph input (--keep-io-float)";
      }
      if (n->output(0) && quant::is_graph_output(g, n->output(0))) reason = "writes a graph output (--keep-io-float)";
    }
    report_.coverage.add(label, quant::layer_params(g, *n), reason.empty(), reason);
    if (!reason.empty()) {
      report_.left_float.emplace_back(label, reason);
      continue;
    }
    report_.quantized.push_back(label);
    todo.push_back(n);
  }
  // A weight shared by several nodes is quantized once, if they agree on its axes.
  std::map<std::pair<const ir::Value*, int64_t>, ir::Value*> done;
  for (ir::Node* n : todo) {
    ir::Value* wv = n->input(1);
    const ir::Tensor w = *wv->initializer;
    const quant::WeightAxes axes = quant::weight_axes(*n, w.rank());
    const auto key = std::make_pair(static_cast<const ir::Value*>(wv), axes.channel * 64 + axes.reduction);
    auto it = done.find(key);
    if (it == done.end()) {
      auto pre = options_.prequantized.find(wv->name());
      quant::QuantizedWeight qw = pre != options_.prequantized.end()
                                      ? pre->second
                                      : quant::quantize_weight(w, axes.channel, axes.reduction, wo);
      const bool zp = !(wo.symmetric && wo.is_signed);
      it = done.emplace(key, quant::add_dequantize_weight(g, n, qw, wv->name(), zp)).first;
      ++report_.weights_quantized;
    }
    n->set_input(1, it->second);
  }
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  quant::RecurrentQuantOptions ro;  // per row whatever the granularity: a row is one gate unit's weights
  ro.bits = wo.bits;
  ro.exclude_nodes = options_.exclude_nodes;
  ro.exclude_ops = options_.exclude_ops;
  ro.only_ops = options_.only_ops;
  ro.keep_io_float = options_.keep_io_float;
  const quant::RecurrentQuantResult rec = quant::quantize_recurrent(model, ro);
  quant::merge_into(rec, report_);
  const char* gran = wo.granularity == quant::Granularity::kBlock      ? "blockwise"
                     : wo.granularity == quant::Granularity::kPerChannel ? "per-channel"
                                                                          : "per-tensor";
  quant::add_subgraph_layers(model, options_.only_ops, report_.coverage);  // left float, counted
  return fmt::format("quantize-weight-only: {} ({} weights int{} {}{}{})", report_.coverage.summary("quantized"),
                     report_.weights_quantized, wo.bits, gran,
                     wo.block_size > 0 ? fmt::format(", block {}", wo.block_size) : std::string(), quant::recurrent_note(rec));
}

}  // namespace scalec::passes
