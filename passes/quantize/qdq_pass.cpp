#include "passes/quantize/qdq_pass.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "ir/error.h"
#include "kernels/common/quantize_math.h"
#include "passes/quantize/qdq_plan.h"
#include "passes/quantize/quant_bias.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/recurrent_quant.h"
#include "passes/quantize/subgraph_layers.h"

namespace scalec::passes {

namespace {

// The exclusion and --keep-io-float reasons every node shares.
std::string io_float_reason(const ir::Graph& g, const ir::Node* n, const QdqOptions& o) {
  if (o.exclude_nodes.count(n->name)) return "excluded by --exclude-nodes";
  if (o.exclude_ops.count(n->op_type())) return "excluded by --exclude-ops";
  if (o.keep_io_float) {
    for (const ir::Value* v : n->inputs()) {
      if (v && quant::is_graph_input(g, v) && !v->is_initializer()) return "reads a graph input (--keep-io-float)";
    }
    for (const ir::Value* v : n->outputs()) {
      if (v && quant::is_graph_output(g, v)) return "writes a graph output (--keep-io-float)";
    }
  }
  return {};
}

}  // namespace

std::string layer_float_reason(const ir::Graph& g, const quant::ValueTypes& types, const ir::Node* n,
                               const QdqOptions& o) {
  if (std::string why = io_float_reason(g, n, o); !why.empty()) return why;
  if (std::string why = types.activation_reason(g, n->input(0)); !why.empty()) return "input 0 is " + why;
  if (quant::is_activation_matmul(g, types, *n)) return {};
  return quant::weight_reason(g, types, *n);
}

namespace {

bool is_weighted_op(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
}
// Float ops between layers that get pairs on their inputs and output, so a runtime runs them on
// int8 (ONNX Runtime: QLinearAdd, QLinearConcat, int8 MaxPool / AveragePool).
bool is_activation_op(const std::string& op) {
  return op == "Add" || op == "Concat" || op == "MaxPool" || op == "AveragePool";
}
// A pool's output lies within its input's range: one scale for both keeps MaxPool exact. Add and
// Concat keep one scale per input, as ONNX Runtime's quantizer writes them: the union of a residual
// Add's ranges cost 2 dB of SQNR on deeplabv3 and 0.4-0.5 dB on regnet and densenet (zoo, 64x64).
bool shares_scale(const std::string& op) { return op == "MaxPool" || op == "AveragePool"; }

// Which nodes get quantized and which activations get a Q -> DQ pair; decided from the graph
// and the options only, so calibration and the rewrite agree.
struct Plan {
  std::vector<ir::Node*> weighted;
  std::vector<ir::Node*> activation_matmuls;  ///< MatMul of two activations: pairs on both inputs
  std::set<const ir::Node*> quantized;
  std::vector<ir::Value*> activations;  ///< values that get Q -> DQ, first-seen order
  std::set<const ir::Value*> outputs;   ///< weighted nodes' outputs: every use reads the DQ
  std::map<const ir::Value*, const ir::Value*> parent;  ///< union-find over shared scales
  /// An output read only by Relu (or by one ReLU6 Clip) takes its output's calibrated range (see
  /// quant::clamp_output).
  std::map<const ir::Value*, const ir::Value*> range_source;
  std::vector<std::pair<std::string, std::string>> left_float;
  Coverage coverage;

  const ir::Value* root(const ir::Value* v) {
    auto it = parent.find(v);
    if (it == parent.end() || it->second == v) return v;
    const ir::Value* r = root(it->second);
    parent[v] = r;
    return r;
  }
  void add_activation(ir::Value* v) {
    if (parent.emplace(v, v).second) activations.push_back(v);
  }
  void join(const ir::Value* a, const ir::Value* b) {
    const ir::Value *ra = root(a), *rb = root(b);
    if (ra != rb) parent[rb] = ra;
  }
  /// The value whose calibrated range `v`'s pair uses.
  const ir::Value* source(const ir::Value* v) const {
    auto it = range_source.find(v);
    return it == range_source.end() ? v : it->second;
  }
};

// Why node `n` stays float, or "" when it can be quantized.
std::string float_reason(const ir::Graph& g, const quant::ValueTypes& types, const ir::Node* n, const QdqOptions& o) {
  if (is_weighted_op(n->op_type())) {
    if (std::string why = layer_float_reason(g, types, n, o); !why.empty()) return why;
    if (const ir::Tensor* w = quant::float_weight(g, n->input(1)); w && w->rank() < 2) return "weight of rank < 2";
    return {};
  }
  if (std::string why = io_float_reason(g, n, o); !why.empty()) return why;
  for (size_t i = 0; i < n->inputs().size(); ++i) {
    if (std::string why = types.activation_reason(g, n->input(i)); !why.empty()) return fmt::format("input {} is {}", i, why);
  }
  for (size_t i = 1; i < n->outputs().size(); ++i) {
    const ir::Value* v = n->output(i);
    if (v && (!v->uses().empty() || quant::is_graph_output(g, v))) return "a second output is used";
  }
  return {};
}

Plan make_plan(ir::Model& model, const QdqOptions& o) {
  const quant::ValueTypes types(model);
  const ir::Graph& g = *model.graph;
  Plan p;
  for (ir::Node* n : g.topological_order()) {
    if (!n->domain().empty()) continue;
    const bool weighted = is_weighted_op(n->op_type());
    if (!weighted && !is_activation_op(n->op_type())) continue;
    std::string reason = float_reason(g, types, n, o);
    if (weighted) p.coverage.add(quant::node_label(g, n), quant::layer_params(g, *n), reason.empty(), reason);
    if (!reason.empty()) {
      p.left_float.emplace_back(quant::node_label(g, n), reason);
      continue;
    }
    p.quantized.insert(n);
    if (weighted) {
      const bool two_activations = quant::is_activation_matmul(g, types, *n);
      (two_activations ? p.activation_matmuls : p.weighted).push_back(n);
      p.add_activation(n->input(0));
      if (two_activations) p.add_activation(n->input(1));
      // The output gets Q -> DQ too, so a runtime fuses DQ -> Conv -> Q into one integer kernel
      // (ONNX Runtime: QLinearConv / QLinearMatMul). It goes on the node's own output, before a
      // following Relu / Clip: ONNX Runtime fuses no DQ -> Conv -> Relu -> Q, and drops the Relu
      // only where the zero point is the type's minimum (asymmetric); with the default zero point 0
      // the Relu runs on the dequantized values between two pairs.
      // Graph outputs stay float (the logits keep full precision).
      ir::Value* y = n->output(0);
      // A MatMul of two activations keeps a float output, as ONNX Runtime's quantizer writes it: with
      // a pair there, ORT's QDQ fusions (scores -> Softmax) compute something else than the graph
      // means (a torchvision ViT: SQNR 16.8 dB unfused vs 15.7 fused; without it 16.3 both ways,
      // transformer_block 34.4 -> 34.8 dB).
      if (y && !two_activations && types.is_float_activation(g, y) && !y->uses().empty() && !quant::is_graph_output(g, y)) {
        p.add_activation(y);
        p.outputs.insert(y);
        if (const ir::Value* r = quant::clamp_output(g, y)) p.range_source[y] = r;
      }
      continue;
    }
    for (ir::Value* v : n->inputs()) p.add_activation(v);
    p.add_activation(n->output(0));
    if (shares_scale(n->op_type())) {
      for (ir::Value* v : n->inputs()) p.join(n->output(0), v);
    }
  }
  // A Relu/Clip output with a pair of its own may share a scale with others (Relu -> MaxPool): the
  // pair before the clamp joins that group, so both pairs keep one scale.
  for (const auto& [y, r] : p.range_source) {
    if (p.parent.count(r)) p.join(r, y);
  }
  return p;
}

ir::Tensor scalar(ir::DType dtype, int64_t v) {
  ir::Tensor t(dtype, {});
  if (dtype == ir::DType::kInt8) t.mutable_values<int8_t>()[0] = static_cast<int8_t>(v);
  if (dtype == ir::DType::kUInt8) t.mutable_values<uint8_t>()[0] = static_cast<uint8_t>(v);
  return t;
}

// Inserts x -> QuantizeLinear -> DequantizeLinear for `v` and points `users` at the DQ output.
// Each consuming node gets its own pair (same scale and zero point): ONNX Runtime converts an
// int8 pair to uint8 (what its x86 QLinearConv needs) only where the Q feeds a single DQ.
void insert_qdq(ir::Graph& g, ir::Value* v, const quant::QuantParams& qp, ir::DType dtype,
                const std::vector<ir::Use>& users) {
  ir::Tensor s(ir::DType::kFloat, {});
  s.mutable_values<float>()[0] = qp.scale;
  std::map<const ir::Node*, ir::Value*> dq_of;
  for (const ir::Use& u : users) {
    ir::Value*& dq = dq_of[u.node];
    if (!dq) {
      // Own scale and zero point initializers too: ONNX Runtime's common-subexpression pass would
      // merge two Q nodes that read the same ones.
      ir::Value* scale = g.add_initializer(g.unique_name(v->name() + "_scale"), s);
      ir::Value* zp = g.add_initializer(g.unique_name(v->name() + "_zero_point"), scalar(dtype, qp.zero_point));
      ir::Value* q = g.create_value(g.unique_name(v->name() + "_quantized"));
      dq = g.create_value(g.unique_name(v->name() + "_dequantized"));
      const std::string tag = dq_of.size() == 1 ? "" : fmt::format("_{}", dq_of.size() - 1);  // unique node names
      g.add_node("QuantizeLinear", {v, scale, zp}, {q})->name = g.unique_name(v->name() + "_QuantizeLinear" + tag);
      g.add_node("DequantizeLinear", {q, scale, zp}, {dq})->name = g.unique_name(v->name() + "_DequantizeLinear" + tag);
    }
    u.node->set_input(u.input_index, dq);
  }
}

}  // namespace

std::vector<std::string> qdq_calibration_values(ir::Model& model, const QdqOptions& options) {
  Plan p = make_plan(model, options);
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const ir::Value* v : p.activations) {
    if (seen.insert(p.source(v)->name()).second) names.push_back(p.source(v)->name());
  }
  return names;
}

std::map<std::string, std::vector<std::string>> qdq_range_groups(ir::Model& model, const QdqOptions& options) {
  Plan p = make_plan(model, options);
  std::map<const ir::Value*, std::vector<std::string>> members;  // as QuantizeQdq::run joins them
  for (const ir::Value* v : p.activations) {
    std::vector<std::string>& m = members[p.root(v)];
    if (std::find(m.begin(), m.end(), p.source(v)->name()) == m.end()) m.push_back(p.source(v)->name());
  }
  std::map<std::string, std::vector<std::string>> groups;
  for (const ir::Value* v : p.activations) groups[v->name()] = members[p.root(v)];
  return groups;
}

quant::QuantizedWeight QuantPass::weight_of(const ir::Node& n, const ir::Tensor& w,
                                            const quant::WeightQuantOptions& wo) const {
  auto pre = options_.prequantized.find(n.input(1)->name());
  if (pre != options_.prequantized.end()) return pre->second;
  const quant::WeightAxes axes = quant::weight_axes(n, w.rank());
  quant::WeightQuantOptions mine = wo;
  auto bits = options_.layer_bits.find(n.name);
  if (bits != options_.layer_bits.end()) mine.bits = bits->second;
  return quant::quantize_weight(w, axes.channel, axes.reduction, mine);
}

std::string QuantPass::mixed_bits_note(const ir::Graph& g) const {
  size_t other = 0;
  for (const auto& n : g.nodes()) {
    auto it = options_.layer_bits.find(n->name);
    other += it != options_.layer_bits.end() && it->second != options_.weights.bits;
  }
  return other == 0 ? "" : fmt::format(", {} layer{} at layer-bits", other, other == 1 ? "" : "s");
}

std::string QuantizeQdq::run(ir::Model& model) {
  report_ = {};
  quant::check_not_quantized(model);
  const quant::WeightQuantOptions& wo = options_.weights;
  (void)quant::int_range(wo.bits, wo.is_signed, wo.symmetric);  // validates bits
  bool needs_21 = wo.bits == 4 || wo.granularity == quant::Granularity::kBlock;
  for (const auto& [node, bits] : options_.layer_bits) {
    (void)quant::int_range(bits, wo.is_signed, wo.symmetric);  // validates bits
    needs_21 = needs_21 || bits == 4;
  }
  quant::require_opset(model, needs_21 ? 21 : 13,
                       needs_21 ? "int4 or blockwise DequantizeLinear" : "per-channel DequantizeLinear");
  ir::Graph& g = *model.graph;
  Plan p = make_plan(model, options_);
  for (const ir::Node* n : g.topological_order()) {
    if (p.quantized.count(n)) report_.quantized.push_back(quant::node_label(g, n));
  }
  report_.left_float = p.left_float;
  report_.coverage = p.coverage;

  // One set of parameters per shared-scale group: the union of its members' ranges.
  std::map<const ir::Value*, calibration::Range> group_range;
  for (const ir::Value* v : p.activations) {
    const std::string& name = p.source(v)->name();
    auto it = options_.ranges.find(name);
    if (it == options_.ranges.end()) throw_bad_input("no calibration range for value '{}'", name);
    auto [gr, fresh] = group_range.emplace(p.root(v), it->second);
    if (!fresh) {
      gr->second.min = std::min(gr->second.min, it->second.min);
      gr->second.max = std::max(gr->second.max, it->second.max);
    }
  }
  const quant::IntRange act_range = quant::int_range(8, options_.activation_signed, options_.activation_symmetric);
  const ir::DType act_dtype = options_.activation_signed ? ir::DType::kInt8 : ir::DType::kUInt8;
  std::map<const ir::Value*, quant::QuantParams> params;
  for (ir::Value* v : p.activations) {
    const calibration::Range r = group_range.at(p.root(v));
    params[v] = quant::params_from_range(r.min, r.max, act_range, options_.activation_symmetric);
  }

  // Weights and biases first (they read the activation scales), then the activation Q -> DQ pairs.
  for (ir::Node* n : p.weighted) {
    const ir::Tensor w = *quant::float_weight(g, n->input(1));
    const quant::QuantizedWeight qw = weight_of(*n, w, wo);
    n->set_input(1, quant::add_dequantize_weight(g, n, qw, n->input(1)->name(), true));
    ++report_.weights_quantized;
    // A Gemm writing a graph output keeps a float bias: ONNX Runtime 1.20 fuses DQ -> Gemm (no
    // output Q) into a float-output QGemm that misreads an int32 C (outputs off by up to 30% of the
    // logit range on mlp.onnx, while its unoptimized run matches scalec to 1e-7); with a float C they
    // agree exactly. A Gemm whose output gets Q -> DQ fuses into an int8-output QGemm, which needs
    // the int32 C (and then matches the unfused run exactly on lenet_digits).
    const bool int_bias = n->op_type() == "Conv" || n->op_type() == "ConvTranspose" ||
                          (n->op_type() == "Gemm" && p.outputs.count(n->output(0)));
    if (int_bias && n->input(2)) {
      quant::quantize_bias(g, n, params.at(n->input(0)).scale, qw);
    }
  }
  for (ir::Value* v : p.activations) {
    std::vector<ir::Use> users;
    const bool all_uses = p.outputs.count(v) || (v->producer() && p.quantized.count(v->producer()) &&
                                                 is_activation_op(v->producer()->op_type()));
    for (const ir::Use& u : v->uses()) {
      if (all_uses || p.quantized.count(u.node)) users.push_back(u);
    }
    insert_qdq(g, v, params.at(v), act_dtype, users);
    ++report_.activations_quantized;
  }
  const std::string mixed = mixed_bits_note(g);
  quant::remove_dead_identities(g);
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  const quant::RecurrentQuantResult rec = quant::quantize_recurrent(model, options_, false);
  quant::merge_into(rec, report_);
  quant::add_subgraph_layers(model, options_.only_ops, report_.coverage);  // left float, counted
  return fmt::format("quantize-qdq: {} ({} weights int{}{}{}, {} activations int8)", report_.coverage.summary("quantized"),
                     report_.weights_quantized, wo.bits, mixed, quant::recurrent_note(rec), report_.activations_quantized);
}

}  // namespace scalec::passes
