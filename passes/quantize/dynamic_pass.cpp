#include "passes/quantize/dynamic_pass.h"

#include <map>

#include <fmt/format.h>

#include "ir/error.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes {

namespace {

std::string float_reason(const ir::Graph& g, const ir::Node* n, const QdqOptions& o) {
  if (std::string why = weighted_float_reason(g, n, o); !why.empty()) return why;
  if (quant::float_weight(g, n->input(1))->rank() != 2) return "MatMul weight is not 2-D";
  return {};
}

ir::Attribute int_attribute(const char* name, int64_t v) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}

}  // namespace

std::string QuantizeDynamic::run(ir::Model& model) {
  report_ = {};
  quant::check_not_quantized(model);
  quant::WeightQuantOptions wo = options_.weights;
  (void)quant::int_range(wo.bits, wo.is_signed, wo.symmetric);  // validates bits
  if (wo.granularity == quant::Granularity::kBlock) {
    throw_bad_input("--format dynamic takes per-tensor or per-channel weights, not blocks (MatMulInteger has no block_size)");
  }
  wo.symmetric = true;  // zero point 0: MatMulInteger then needs no weight-side correction
  wo.is_signed = true;
  quant::require_opset(model, 11, "DynamicQuantizeLinear");
  ir::Graph& g = *model.graph;
  std::vector<ir::Node*> nodes;
  for (ir::Node* n : g.topological_order()) {
    if (n->domain().empty() && n->op_type() == "Gemm") {
      report_.left_float.emplace_back(quant::node_label(g, n),
                                      quant::gemm_float_reason(g, *n, options_.exclude_nodes, options_.exclude_ops,
                                                               options_.keep_io_float));
    }
    if (!n->domain().empty() || n->op_type() != "MatMul") continue;
    if (!(n->input(1) && n->input(1)->is_initializer())) continue;  // activation x activation: not a layer
    std::string reason = float_reason(g, n, options_);
    if (reason.empty()) nodes.push_back(n);
    else report_.left_float.emplace_back(quant::node_label(g, n), reason);
  }
  struct Dyn {
    ir::Value *q, *scale, *zero_point;
  };
  std::map<const ir::Value*, Dyn> dyn;  // one DynamicQuantizeLinear per activation
  for (ir::Node* n : nodes) {
    ir::Value* x = n->input(0);
    auto it = dyn.find(x);
    if (it == dyn.end()) {
      Dyn d{g.create_value(g.unique_name(x->name() + "_quantized")), g.create_value(g.unique_name(x->name() + "_scale")),
            g.create_value(g.unique_name(x->name() + "_zero_point"))};
      g.add_node("DynamicQuantizeLinear", {x}, {d.q, d.scale, d.zero_point})->name =
          g.unique_name(x->name() + "_DynamicQuantizeLinear");
      it = dyn.emplace(x, d).first;
    }
    const Dyn& d = it->second;
    const ir::Tensor w = *quant::float_weight(g, n->input(1));
    quant::QuantizedWeight qw = quant::to_8bit_container(weight_of(*n, w, wo));
    const std::string base = n->input(1)->name();
    ir::Value* wq = g.add_initializer(g.unique_name(base + "_quantized"), qw.q);
    ir::Value* wzp = g.add_initializer(g.unique_name(base + "_zero_point"), qw.zero_point);
    ir::Value* ws = g.add_initializer(g.unique_name(base + "_scale"), qw.scale);
    const std::string label = quant::node_label(g, n);
    const std::string name = n->name.empty() ? label : n->name;
    ir::Value* y = quant::remove_keeping_output(g, n);
    ir::Value* acc = g.create_value(g.unique_name(y->name() + "_int32"));
    ir::Value* accf = g.create_value(g.unique_name(y->name() + "_int32_float"));
    ir::Value* s = g.create_value(g.unique_name(y->name() + "_scales"));
    g.add_node("MatMulInteger", {d.q, wq, d.zero_point, wzp}, {acc})->name = name;
    ir::Node* cast = g.add_node("Cast", {acc}, {accf});
    cast->name = g.unique_name(name + "_Cast");
    cast->set_attribute(int_attribute("to", 1));  // FLOAT
    g.add_node("Mul", {d.scale, ws}, {s})->name = g.unique_name(name + "_scales_Mul");
    g.add_node("Mul", {accf, s}, {y})->name = g.unique_name(name + "_Mul");
    report_.quantized.push_back(label);
    ++report_.weights_quantized;
  }
  report_.activations_quantized = dyn.size();
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  return fmt::format("quantize-dynamic: {} MatMul nodes quantized ({} weights int{}, {} activations uint8 at run time), "
                     "{} left in float",
                     report_.quantized.size(), report_.weights_quantized, wo.bits, report_.activations_quantized,
                     report_.left_float.size());
}

}  // namespace scalec::passes
