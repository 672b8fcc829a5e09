#include "passes/quantize/dynamic_pass.h"

#include <map>

#include <fmt/format.h>

#include "ir/error.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/recurrent_quant.h"
#include "passes/quantize/subgraph_layers.h"

namespace scalec::passes {

namespace {

// Why layer `n` stays float in the dynamic format, or "".
std::string float_reason(const ir::Graph& g, const quant::ValueTypes& types, const ir::Node* n, const QdqOptions& o) {
  if (std::string why = layer_float_reason(g, types, n, o); !why.empty()) return why;
  const std::string& op = n->op_type();
  if (op == "Gemm") return quant::gemm_matmul_reason(g, *n);
  if (op == "ConvTranspose") return "ConvTranspose has no integer form in ONNX (no ConvTransposeInteger)";
  if (quant::is_activation_matmul(g, types, *n)) return "MatMul of two activations (quantized by --format qdq only)";
  const ir::Tensor* w = quant::float_weight(g, n->input(1));
  if (op == "MatMul" && w->rank() < 2) return "weight of rank < 2";
  if (op == "Conv" && w->rank() < 3) return "Conv weight of rank < 3";
  if (op == "Conv" && n->input(2) && !quant::float_bias(g, n->input(2))) {
    // The bias is added after the integer Conv as a [M, 1, ...] constant.
    const ir::Node* p = n->input(2)->producer();
    return p ? fmt::format("bias (input 2) is computed at run time (by {})", p->op_type())
             : "bias (input 2) is not a constant float initializer";
  }
  return {};
}

ir::Attribute int_attribute(const char* name, int64_t v) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kInt;
  a.i = v;
  return a;
}

// `t` ([M] or a scalar) as [M, 1, ..., 1] of rank `rank`, so it scales axis 1 of an NC... output.
ir::Tensor channel_column(const ir::Tensor& t, int64_t rank) {
  if (t.rank() == 0) return t;
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[0] = t.numel();
  ir::Tensor out(t.dtype(), shape);
  auto src = t.values<float>();
  auto dst = out.mutable_values<float>();
  std::copy(src.begin(), src.end(), dst.begin());
  return out;
}

// Symmetric int8 weights as uint8 with zero point 128 (the same real values; ORT's ConvInteger
// takes uint8 weights only). One scalar zero point for all channels.
void to_uint8_offset(quant::QuantizedWeight& qw) {
  ir::Tensor u(ir::DType::kUInt8, qw.q.shape());
  auto src = qw.q.values<int8_t>();
  auto dst = u.mutable_values<uint8_t>();
  for (size_t i = 0; i < src.size(); ++i) dst[i] = static_cast<uint8_t>(static_cast<int>(src[i]) + 128);
  qw.q = std::move(u);
  qw.zero_point = quant::int_scalar(ir::DType::kUInt8, 128);
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
  wo.symmetric = true;  // zero point 0: the integer product then needs no weight-side correction
  wo.is_signed = true;
  quant::require_opset(model, 11, "DynamicQuantizeLinear");
  const quant::ValueTypes types(model);
  ir::Graph& g = *model.graph;
  std::vector<ir::Node*> nodes;
  for (ir::Node* n : g.topological_order()) {
    if (!quant::is_layer_op(*n)) continue;
    if (!options_.only_ops.empty() && !options_.only_ops.count(n->op_type())) continue;
    const std::string reason = float_reason(g, types, n, options_);
    const std::string label = quant::node_label(g, n);
    report_.coverage.add(label, quant::layer_params(g, *n), reason.empty(), reason);
    if (reason.empty()) nodes.push_back(n);
    else report_.left_float.emplace_back(label, reason);
  }
  struct Dyn {
    ir::Value *q, *scale, *zero_point;
  };
  std::map<const ir::Value*, Dyn> dyn;  // one DynamicQuantizeLinear per activation
  size_t matmuls = 0;
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
    const bool conv = n->op_type() == "Conv";
    const ir::Tensor w = *quant::float_weight(g, n->input(1));
    quant::QuantizedWeight qw = quant::to_8bit_container(weight_of(*n, w, wo));
    if (conv) {
      to_uint8_offset(qw);
      qw.scale = channel_column(qw.scale, w.rank() - 1);
    }
    const std::string base = n->input(1)->name();
    ir::Value* wq = g.add_initializer(g.unique_name(base + "_quantized"), qw.q);
    ir::Value* wzp = g.add_initializer(g.unique_name(base + "_zero_point"), qw.zero_point);
    ir::Value* ws = g.add_initializer(g.unique_name(base + "_scale"), qw.scale);
    ir::Value* bias = nullptr;
    if (conv && n->input(2)) {
      bias = g.add_initializer(g.unique_name(n->input(2)->name() + "_reshaped"),
                               channel_column(*quant::float_bias(g, n->input(2)), w.rank() - 1));
    }
    const std::string label = quant::node_label(g, n);
    const std::string name = n->name.empty() ? label : n->name;
    std::vector<ir::Attribute> attributes = n->attributes();
    ir::Value* y = quant::remove_keeping_output(g, n);
    ir::Value* acc = g.create_value(g.unique_name(y->name() + "_int32"));
    ir::Value* accf = g.create_value(g.unique_name(y->name() + "_int32_float"));
    ir::Value* s = g.create_value(g.unique_name(y->name() + "_scales"));
    ir::Node* integer = g.add_node(conv ? "ConvInteger" : "MatMulInteger", {d.q, wq, d.zero_point, wzp}, {acc});
    integer->name = name;
    if (conv) {
      for (const ir::Attribute& a : attributes) integer->set_attribute(a);
    }
    ir::Node* cast = g.add_node("Cast", {acc}, {accf});
    cast->name = g.unique_name(name + "_Cast");
    cast->set_attribute(int_attribute("to", 1));  // FLOAT
    g.add_node("Mul", {d.scale, ws}, {s})->name = g.unique_name(name + "_scales_Mul");
    if (bias) {
      ir::Value* scaled = g.create_value(g.unique_name(y->name() + "_unbiased"));
      g.add_node("Mul", {accf, s}, {scaled})->name = g.unique_name(name + "_Mul");
      g.add_node("Add", {scaled, bias}, {y})->name = g.unique_name(name + "_bias_Add");
    } else {
      g.add_node("Mul", {accf, s}, {y})->name = g.unique_name(name + "_Mul");
    }
    report_.quantized.push_back(label);
    ++report_.weights_quantized;
    if (!conv) ++matmuls;
  }
  report_.activations_quantized = dyn.size();
  const size_t integer_layers = report_.weights_quantized;
  quant::remove_dead_identities(g);
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  const quant::RecurrentQuantResult rec = quant::quantize_recurrent(model, options_, true);
  quant::merge_into(rec, report_);
  quant::add_subgraph_layers(model, options_.only_ops, report_.coverage);  // left float, counted
  return fmt::format("quantize-dynamic: {} ({} MatMulInteger + {} ConvInteger{}, weights int{}, {} activations uint8 at run time)",
                     report_.coverage.summary("quantized"), matmuls, integer_layers - matmuls, quant::recurrent_note(rec),
                     wo.bits, report_.activations_quantized);
}

}  // namespace scalec::passes
