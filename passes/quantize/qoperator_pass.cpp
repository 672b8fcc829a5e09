#include "passes/quantize/qoperator_pass.h"

#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "ir/error.h"
#include "kernels/common/quantize_math.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/recurrent_quant.h"
#include "passes/quantize/subgraph_layers.h"

namespace scalec::passes {

namespace {

// Why layer `n` stays float, or "" when it becomes an integer op.
std::string float_reason(const ir::Graph& g, const quant::ValueTypes& types, const ir::Node* n, const QdqOptions& o) {
  if (std::string why = layer_float_reason(g, types, n, o); !why.empty()) return why;
  const std::string& op = n->op_type();
  if (op == "Gemm") return quant::gemm_matmul_reason(g, *n);
  if (op == "ConvTranspose") return "ConvTranspose has no QLinear form in ONNX";
  // A QLinearMatMul of two activations runs in scalec and in ONNX Runtime unoptimized, but ORT's
  // QDQ fusions around its int8 output (scores -> Softmax) then compute something else (a
  // torchvision ViT: SQNR 24.4 dB unoptimized, 9.7 dB optimized): left to the qdq format.
  if (quant::is_activation_matmul(g, types, *n)) return "MatMul of two activations (quantized by --format qdq only)";
  const ir::Tensor* w = quant::float_weight(g, n->input(1));
  if (op == "MatMul" && w->rank() != 2) return "QLinearMatMul needs a 2-D weight for per-column scales";
  if (op == "Conv" && w->rank() < 3) return "Conv weight of rank < 3";
  if (n->input(2) && !quant::float_bias(g, n->input(2))) return "bias (input 2) is not a constant float";
  return {};
}

// Every layer in topological order with why it stays float ("" for those to quantize), and the
// nodes to quantize.
struct Plan {
  std::vector<std::pair<ir::Node*, std::string>> layers;
  std::vector<ir::Node*> nodes;
};

Plan plan(ir::Model& model, const QdqOptions& o) {
  const quant::ValueTypes types(model);
  const ir::Graph& g = *model.graph;
  Plan p;
  for (ir::Node* n : g.topological_order()) {
    if (!quant::is_layer_op(*n)) continue;
    std::string reason = float_reason(g, types, n, o);
    if (reason.empty()) p.nodes.push_back(n);
    p.layers.emplace_back(n, std::move(reason));
  }
  return p;
}

// int32 bias with scale sx * sw[m]; false when a value does not fit.
bool quantize_bias(const ir::Tensor& b, float sx, const ir::Tensor& w_scale, ir::Tensor* out) {
  auto ws = w_scale.values<float>();
  auto bv = b.values<float>();
  ir::Tensor q(ir::DType::kInt32, {b.numel()});
  auto qv = q.mutable_values<int32_t>();
  constexpr double kMax = std::numeric_limits<int32_t>::max();
  for (size_t m = 0; m < bv.size(); ++m) {
    const double s = static_cast<double>(sx * ws[ws.size() == 1 ? 0 : m]);
    if (!(s > 0.0)) return false;
    const double r = kernels::round_half_even(static_cast<double>(bv[m]) / s);
    if (std::fabs(r) > kMax) return false;
    qv[m] = static_cast<int32_t>(r);
  }
  *out = std::move(q);
  return true;
}

// Where each planned node's output takes its calibrated range: the Relu / ReLU6 Clip reading it
// (quant::clamp_output), unless it is a graph output; absent: its own.
std::map<const ir::Value*, const ir::Value*> range_sources(const ir::Graph& g, const std::vector<ir::Node*>& nodes) {
  std::map<const ir::Value*, const ir::Value*> out;
  for (const ir::Node* n : nodes) {
    const ir::Value* y = n->output(0);
    if (quant::is_graph_output(g, y)) continue;
    if (const ir::Value* c = quant::clamp_output(g, y)) out[y] = c;
  }
  return out;
}

void copy_attributes(const ir::Node& from, ir::Node* to) {
  for (const ir::Attribute& a : from.attributes()) to->set_attribute(a);
}

}  // namespace

std::vector<std::string> qoperator_calibration_values(ir::Model& model, const QdqOptions& options) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  const Plan p = plan(model, options);
  const auto sources = range_sources(*model.graph, p.nodes);
  for (const ir::Node* n : p.nodes) {
    for (const ir::Value* v : {n->input(0), n->output(0)}) {
      auto it = sources.find(v);
      const std::string& name = (it == sources.end() ? v : it->second)->name();
      if (seen.insert(name).second) names.push_back(name);
    }
  }
  return names;
}

std::string QuantizeQOperator::run(ir::Model& model) {
  report_ = {};
  quant::check_not_quantized(model);
  quant::WeightQuantOptions wo = options_.weights;
  (void)quant::int_range(wo.bits, wo.is_signed, wo.symmetric);  // validates bits
  if (wo.granularity == quant::Granularity::kBlock) {
    throw_bad_input("--format qoperator takes per-tensor or per-channel weights, not blocks (QLinearConv has no block_size)");
  }
  if (wo.granularity == quant::Granularity::kPerChannel) wo.symmetric = true;  // one zero point for all channels
  quant::require_opset(model, 10, "QLinearConv / QLinearMatMul");
  ir::Graph& g = *model.graph;
  const Plan pl = plan(model, options_);
  const auto sources = range_sources(g, pl.nodes);  // before the rewrite changes any uses
  // Labels and weight sizes before the rewrite renumbers unnamed nodes and replaces weights.
  std::map<const ir::Node*, std::string> reasons, label_of;
  std::vector<int64_t> params;
  for (const auto& [n, why] : pl.layers) {
    reasons[n] = why;
    label_of[n] = quant::node_label(g, n);
    params.push_back(quant::layer_params(g, *n));
  }

  const quant::IntRange act_range = quant::int_range(8, options_.activation_signed, options_.activation_symmetric);
  const ir::DType act_dtype = options_.activation_signed ? ir::DType::kInt8 : ir::DType::kUInt8;
  struct Act {
    quant::QuantParams p;
    ir::Value *scale = nullptr, *zero_point = nullptr;
  };
  std::map<const ir::Value*, Act> acts;
  auto act = [&](ir::Value* v) -> Act& {
    auto it = acts.find(v);
    if (it != acts.end()) return it->second;
    auto src = sources.find(v);
    const std::string& range_name = (src == sources.end() ? v : src->second)->name();
    auto r = options_.ranges.find(range_name);
    if (r == options_.ranges.end()) throw_bad_input("no calibration range for value '{}'", range_name);
    Act a;
    a.p = quant::params_from_range(r->second.min, r->second.max, act_range, options_.activation_symmetric);
    a.scale = g.add_initializer(g.unique_name(v->name() + "_scale"), ir::Tensor::from_floats({}, std::vector<float>{a.p.scale}));
    a.zero_point = g.add_initializer(g.unique_name(v->name() + "_zero_point"), quant::int_scalar(act_dtype, a.p.zero_point));
    return acts.emplace(v, a).first->second;
  };
  std::map<const ir::Value*, ir::Value*> int8_of;  // float value -> its quantized twin
  auto quantized = [&](ir::Value* v) {
    auto it = int8_of.find(v);
    if (it != int8_of.end()) return it->second;
    Act& a = act(v);
    ir::Value* q = g.create_value(g.unique_name(v->name() + "_quantized"));
    g.add_node("QuantizeLinear", {v, a.scale, a.zero_point}, {q})->name = g.unique_name(v->name() + "_QuantizeLinear");
    return int8_of.emplace(v, q).first->second;
  };

  for (ir::Node* n : pl.nodes) {
    const std::string label = label_of.at(n);
    const bool conv = n->op_type() == "Conv";
    const ir::Tensor w = *quant::float_weight(g, n->input(1));
    quant::QuantizedWeight qw = quant::to_8bit_container(weight_of(*n, w, wo));
    ir::Value* x = n->input(0);
    ir::Value* y = n->output(0);
    Act& ax = act(x);
    Act& ay = act(y);
    ir::Tensor bias;
    const bool has_bias = conv && n->input(2) != nullptr;
    if (has_bias && !quantize_bias(*quant::float_bias(g, n->input(2)), ax.p.scale, qw.scale, &bias)) {
      reasons[n] = "bias does not fit int32 at scale x_scale * w_scale";
      continue;
    }
    const std::string base = n->input(1)->name();
    std::vector<ir::Value*> ins = {quantized(x), ax.scale, ax.zero_point,
                                   g.add_initializer(g.unique_name(base + "_quantized"), qw.q),
                                   g.add_initializer(g.unique_name(base + "_scale"), qw.scale),
                                   g.add_initializer(g.unique_name(base + "_zero_point"), qw.zero_point),
                                   ay.scale, ay.zero_point};
    if (has_bias) ins.push_back(g.add_initializer(g.unique_name(n->input(2)->name() + "_quantized"), bias));
    ++report_.weights_quantized;
    ir::Value* yq = g.create_value(g.unique_name(y->name() + "_quantized"));
    const std::string name = n->name;
    ir::Node* q = g.add_node(conv ? "QLinearConv" : "QLinearMatMul", ins, {yq});
    if (conv) copy_attributes(*n, q);
    q->name = name.empty() ? g.unique_name(q->op_type()) : name;
    quant::remove_keeping_output(g, n);
    g.add_node("DequantizeLinear", {yq, ay.scale, ay.zero_point}, {y})->name = g.unique_name(y->name() + "_DequantizeLinear");
    int8_of[y] = yq;
    report_.quantized.push_back(label);
  }
  for (size_t i = 0; i < pl.layers.size(); ++i) {
    const std::string& why = reasons.at(pl.layers[i].first);
    const std::string& label = label_of.at(pl.layers[i].first);
    report_.coverage.add(label, params[i], why.empty(), why);
    if (!why.empty()) report_.left_float.emplace_back(label, why);
  }
  report_.activations_quantized = acts.size();
  g.sort_topologically();
  quant::remove_dead_dequantize(g);
  quant::remove_dead_identities(g);
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  const std::string mixed = mixed_bits_note(g);
  const quant::RecurrentQuantResult rec = quant::quantize_recurrent(model, options_, false);
  quant::merge_into(rec, report_);
  quant::add_subgraph_layers(model, options_.only_ops, report_.coverage);  // left float, counted
  return fmt::format("quantize-qoperator: {} ({} weights int{}{}{}, {} activations {})", report_.coverage.summary("quantized"),
                     report_.weights_quantized, wo.bits, mixed, quant::recurrent_note(rec), report_.activations_quantized,
                     options_.activation_signed ? "int8" : "uint8");
}

}  // namespace scalec::passes
