#include "passes/quantize/quant_graph.h"

#include <algorithm>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "ir/node_attrs.h"
#include "passes/core/constant.h"
#include "passes/core/opset_upgrade.h"

namespace scalec::passes::quant {

void check_not_quantized(const ir::Model& model) {
  static const std::set<std::string> kQuantOps = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
                                                  "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear",
                                                  "QLinearAdd", "QLinearMul", "QGemm", "MatMulNBits",
                                                  "DynamicQuantizeLSTM"};
  for (const auto& n : model.graph->nodes()) {
    if (kQuantOps.count(n->op_type())) {
      throw_bad_input("the model is already quantized: node '{}' is a {} (quantize the float model instead)",
                      node_label(*model.graph, n.get()), n->op_type());
    }
  }
}

bool is_graph_input(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
}

bool is_graph_output(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

const ir::Tensor* float_weight(const ir::Graph& g, const ir::Value* v) {
  if (!v || !v->is_initializer() || v->owner() != &g || is_graph_input(g, v)) return nullptr;
  return v->initializer->dtype() == ir::DType::kFloat ? &*v->initializer : nullptr;
}

bool is_float_value(const ir::Value* v) {
  static const std::set<std::string> kFloatPreserving = {
      "Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "Clip", "Add", "Sub", "Mul", "Div", "Concat", "MaxPool",
      "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Transpose", "Sigmoid",
      "Tanh", "LeakyRelu", "Softmax", "LayerNormalization", "Identity", "Erf", "Gelu", "HardSwish", "HardSigmoid"};
  for (int depth = 0; v && depth < 64; ++depth) {
    if (v->type && v->type->kind == ir::TypeInfo::Kind::kTensor && v->type->elem_type != 0) {
      return v->type->dtype() == ir::DType::kFloat;
    }
    if (v->is_initializer()) return v->initializer->dtype() == ir::DType::kFloat;
    const ir::Node* p = v->producer();
    if (!p || !p->domain().empty() || !kFloatPreserving.count(p->op_type())) return false;
    v = p->input(0);
  }
  return false;
}

std::string node_label(const ir::Graph& g, const ir::Node* n) {
  if (!n->name.empty()) return n->name;
  size_t i = 0;
  for (; i < g.nodes().size() && g.nodes()[i].get() != n; ++i) {
  }
  return n->op_type() + "#" + std::to_string(i);
}

ir::Value* add_dequantize_weight(ir::Graph& g, const ir::Node* before, const QuantizedWeight& qw,
                                 const std::string& base, bool with_zero_point) {
  ir::Value* q = g.add_initializer(g.unique_name(base + "_quantized"), qw.q);
  ir::Value* s = g.add_initializer(g.unique_name(base + "_scale"), qw.scale);
  std::vector<ir::Value*> ins = {q, s};
  if (with_zero_point) ins.push_back(g.add_initializer(g.unique_name(base + "_zero_point"), qw.zero_point));
  ir::Value* out = g.create_value(g.unique_name(base + "_dequantized"));
  ir::Node* dq = g.insert_node_before(before, "DequantizeLinear", ins, {out});
  dq->name = g.unique_name(base + "_DequantizeLinear");
  if (qw.scale.rank() > 0) {
    ir::Attribute axis;
    axis.name = "axis";
    axis.kind = ir::Attribute::Kind::kInt;
    axis.i = qw.axis;
    dq->set_attribute(axis);
  }
  if (qw.block_size > 0) {
    ir::Attribute bs;
    bs.name = "block_size";
    bs.kind = ir::Attribute::Kind::kInt;
    bs.i = qw.block_size;
    dq->set_attribute(bs);
  }
  return out;
}

ir::Value* remove_keeping_output(ir::Graph& g, ir::Node* n) {
  ir::Value* y = n->output(0);
  ir::Value* parked = g.create_value(g.unique_name(y->name() + "_parked"));
  g.replace_all_uses(y, parked);
  g.remove_node(n);
  g.replace_all_uses(parked, y);
  return y;
}

void remove_dead_dequantize(ir::Graph& g) {
  std::vector<ir::Node*> dead;
  for (const auto& n : g.nodes()) {
    const ir::Value* y = n->output(0);
    if (n->op_type() == "DequantizeLinear" && y && y->uses().empty() && !is_graph_output(g, y)) {
      dead.push_back(n.get());
    }
  }
  for (ir::Node* n : dead) g.remove_node(n);
}

QuantizedWeight to_8bit_container(QuantizedWeight qw) {
  const ir::DType t = qw.q.dtype();
  if (t != ir::DType::kInt4 && t != ir::DType::kUInt4) return qw;
  const ir::DType wide = t == ir::DType::kInt4 ? ir::DType::kInt8 : ir::DType::kUInt8;
  auto widen = [wide](const ir::Tensor& x) {
    ir::Tensor out(wide, x.shape());
    auto bytes = out.mutable_values<uint8_t>();
    const std::vector<int64_t> v = integer_values(x);
    for (size_t i = 0; i < v.size(); ++i) bytes[i] = static_cast<uint8_t>(static_cast<int8_t>(v[i]));
    return out;
  };
  qw.q = widen(qw.q);
  qw.zero_point = widen(qw.zero_point);
  return qw;
}

ir::Tensor int_scalar(ir::DType dtype, int64_t v) {
  ir::Tensor t(dtype, {});
  if (dtype == ir::DType::kInt8) t.mutable_values<int8_t>()[0] = static_cast<int8_t>(v);
  else if (dtype == ir::DType::kUInt8) t.mutable_values<uint8_t>()[0] = static_cast<uint8_t>(v);
  else throw_internal("int_scalar: {} is not int8 or uint8", ir::dtype_name(dtype));
  return t;
}

void remove_unused_initializers(ir::Graph& g) {
  std::erase_if(g.initializers, [&](ir::Value* v) {
    return v->uses().empty() && !is_graph_input(g, v) && !is_graph_output(g, v);
  });
  g.remove_unused_values();
}

void require_opset(ir::Model& model, int64_t version, const std::string& why) {
  const int64_t have = model.opset_version();
  if (have >= version) return;
  spdlog::info("{} needs opset {}: upgrading the model from opset {}", why, version, have);
  upgrade_opset(model, version);
}

namespace {

// The lower bound of Clip `c` when it is a constant: the opset-6 attribute, or a one-element
// constant input from opset 11 on. None when absent (unbounded) or computed.
std::optional<double> clip_min(const ir::Graph& g, const ir::Node& c) {
  if (c.attribute("min")) return ir::float_attr(c, "min", 0);
  const ir::Tensor* m = c.inputs().size() > 1 ? constant_tensor(g, c.input(1)) : nullptr;
  if (!m || m->numel() != 1) return std::nullopt;
  return m->element_as_double(0);
}

}  // namespace

// Fashion LeNet minmax, QDQ: relative output error 4.7e-4 -> 3.2e-4 (the first Conv output spans
// [-4.53, 3.87], the second [-15.2, 8.52]).
const ir::Value* clamp_output(const ir::Graph& g, const ir::Value* y) {
  const std::vector<ir::Use>& uses = y->uses();
  if (uses.size() == 1 && uses[0].node->op_type() == "Clip" && uses[0].node->domain().empty() && uses[0].input_index == 0 &&
      uses[0].node->output(0)) {
    const std::optional<double> lo = clip_min(g, *uses[0].node);
    return lo && *lo >= 0 ? uses[0].node->output(0) : nullptr;
  }
  const ir::Value* out = nullptr;
  for (const ir::Use& u : uses) {
    if (u.node->op_type() != "Relu" || !u.node->domain().empty() || !u.node->output(0)) return nullptr;
    if (!out) out = u.node->output(0);
  }
  return out;
}

}  // namespace scalec::passes::quant
