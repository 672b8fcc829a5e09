#include "passes/quantize/recurrent_quant.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "ir/node_attrs.h"
#include "passes/quantize/qdq_pass.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes::quant {

namespace {

// ONNX Runtime's contrib-op domain (DynamicQuantizeLSTM, version 1).
constexpr const char* kMicrosoftDomain = "com.microsoft";

// Why recurrent node `n` stays float, or "".
std::string float_reason(const ir::Graph& g, const ir::Node& n, const RecurrentQuantOptions& o) {
  if (o.exclude_nodes.count(n.name)) return "excluded by --exclude-nodes";
  if (o.exclude_ops.count(n.op_type())) return "excluded by --exclude-ops";
  if (!o.left_reason.empty()) return o.left_reason;
  for (size_t i : {size_t{1}, size_t{2}}) {
    const ir::Tensor* t = float_weight(g, n.input(i));
    if (t == nullptr) return fmt::format("{} W or R not a constant float32 initializer", n.op_type());
    if (t->rank() != 3) return fmt::format("{} W or R not of rank 3", n.op_type());
  }
  if (o.keep_io_float) {
    if (n.input(0) && is_graph_input(g, n.input(0)) && !n.input(0)->is_initializer()) {
      return "reads a graph input (--keep-io-float)";
    }
    for (const ir::Value* y : n.outputs()) {
      if (y && is_graph_output(g, y)) return "writes a graph output (--keep-io-float)";
    }
  }
  return {};
}

// `w` [D, rows, C] quantized per row as [D*rows, C] (axis 0): symmetric signed, int8 container.
QuantizedWeight quantize_rows(const ir::Tensor& w, int bits) {
  const int64_t d = w.shape()[0], rows = w.shape()[1], c = w.shape()[2];
  ir::Tensor flat(ir::DType::kFloat, {d * rows, c});
  auto src = w.values<float>();
  std::copy(src.begin(), src.end(), flat.mutable_values<float>().begin());
  WeightQuantOptions wo;
  wo.bits = bits;
  wo.granularity = Granularity::kPerChannel;
  return to_8bit_container(quantize_weight(flat, 0, 1, wo));
}

ir::Tensor int64_vector(const std::vector<int64_t>& v) {
  ir::Tensor t(ir::DType::kInt64, {static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.mutable_values<int64_t>().begin());
  return t;
}

// Input `i` of `n` replaced by DequantizeLinear of its rows (one direction: axis 1 of [1, rows, C]
// directly; two: [2*rows, C] on axis 0, then Reshape back, since a per-axis scale is 1-D).
void store_weight_only(ir::Graph& g, ir::Node* n, size_t i, int bits) {
  ir::Value* wv = n->input(i);
  const ir::Tensor w = *wv->initializer;
  QuantizedWeight qw = quantize_rows(w, bits);
  if (w.shape()[0] == 1) {
    ir::Tensor q(qw.q.dtype(), w.shape());
    std::memcpy(q.mutable_values<int8_t>().data(), qw.q.values<int8_t>().data(), qw.q.storage_bytes());
    qw.q = std::move(q);
    qw.axis = 1;
    n->set_input(i, add_dequantize_weight(g, n, qw, wv->name(), false));
    return;
  }
  ir::Value* flat = add_dequantize_weight(g, n, qw, wv->name(), false);
  ir::Value* shape = g.add_initializer(g.unique_name(wv->name() + "_shape"), int64_vector(w.shape()));
  ir::Value* out = g.create_value(g.unique_name(wv->name() + "_reshaped"));
  g.insert_node_before(n, "Reshape", {flat, shape}, {out})->name = g.unique_name(wv->name() + "_Reshape");
  n->set_input(i, out);
}

// DynamicQuantizeLSTM's form of W or R: int8 [D, C, 4H] (rows transposed), scale and zero point [D, 4H].
struct LstmWeight {
  ir::Value *q, *scale, *zero_point;
};

LstmWeight lstm_weight(ir::Graph& g, const ir::Value* wv, int bits) {
  const ir::Tensor& w = *wv->initializer;
  const int64_t d = w.shape()[0], rows = w.shape()[1], c = w.shape()[2];
  const QuantizedWeight qw = quantize_rows(w, bits);
  ir::Tensor q(ir::DType::kInt8, {d, c, rows});
  auto src = qw.q.values<int8_t>();
  auto dst = q.mutable_values<int8_t>();
  for (int64_t k = 0; k < d; ++k) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < c; ++j) dst[(k * c + j) * rows + r] = src[(k * rows + r) * c + j];
    }
  }
  ir::Tensor scale(ir::DType::kFloat, {d, rows});
  auto s = qw.scale.values<float>();
  std::copy(s.begin(), s.end(), scale.mutable_values<float>().begin());
  ir::Tensor zp(ir::DType::kInt8, {d, rows});
  std::fill(zp.mutable_values<int8_t>().begin(), zp.mutable_values<int8_t>().end(), int8_t{0});
  return {g.add_initializer(g.unique_name(wv->name() + "_quantized"), std::move(q)),
          g.add_initializer(g.unique_name(wv->name() + "_scale"), std::move(scale)),
          g.add_initializer(g.unique_name(wv->name() + "_zero_point"), std::move(zp))};
}

// Replaces LSTM `n` by DynamicQuantizeLSTM with the same inputs, outputs and attributes (less layout).
void store_dynamic_lstm(ir::Model& model, ir::Node* n, int bits) {
  ir::Graph& g = *model.graph;
  const LstmWeight w = lstm_weight(g, n->input(1), bits), r = lstm_weight(g, n->input(2), bits);
  std::vector<ir::Value*> ins = {n->input(0), w.q, r.q};
  for (size_t i = 3; i < 8; ++i) ins.push_back(n->input(i));
  ins.insert(ins.end(), {w.scale, w.zero_point, r.scale, r.zero_point});
  std::vector<ir::Attribute> attributes;
  for (const ir::Attribute& a : n->attributes()) {
    if (a.name != "layout") attributes.push_back(a);
  }
  const std::string name = n->name.empty() ? std::string() : n->name + "_quant";
  // Park the outputs so the LSTM can go, then hand them to the new node.
  std::vector<ir::Value*> outs = n->outputs(), parked(outs.size(), nullptr);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (outs[i] == nullptr) continue;
    parked[i] = g.create_value(g.unique_name(outs[i]->name() + "_parked"));
    g.replace_all_uses(outs[i], parked[i]);
  }
  g.remove_node(n);
  ir::Node* q = g.add_node("DynamicQuantizeLSTM", ins, outs, kMicrosoftDomain);
  q->name = name;
  for (ir::Attribute& a : attributes) q->set_attribute(std::move(a));
  for (size_t i = 0; i < outs.size(); ++i) {
    if (parked[i]) g.replace_all_uses(parked[i], outs[i]);
  }
  if (model.opset_version(kMicrosoftDomain) == 0) model.opset_imports.push_back({kMicrosoftDomain, 1});
}

}  // namespace

bool is_recurrent_op(const ir::Node& n) {
  const std::string& op = n.op_type();
  return (n.domain().empty() || n.domain() == "ai.onnx") && (op == "LSTM" || op == "GRU" || op == "RNN");
}

RecurrentQuantResult quantize_recurrent(ir::Model& model, const RecurrentQuantOptions& o) {
  RecurrentQuantResult res;
  res.bits = o.bits;
  res.lstm_bits = o.lstm_bits;
  (void)int_range(o.bits, true, true);  // validates bits
  if (o.dynamic_lstm) (void)int_range(o.lstm_bits, true, true);
  ir::Graph& g = *model.graph;
  std::vector<ir::Node*> todo;
  for (ir::Node* n : g.topological_order()) {
    if (!is_recurrent_op(*n)) continue;
    if (!o.only_ops.empty() && !o.only_ops.count(n->op_type())) continue;
    const std::string label = node_label(g, n);
    const std::string reason = float_reason(g, *n, o);
    int64_t params = 0;
    for (size_t i : {size_t{1}, size_t{2}}) {
      if (const ir::Tensor* t = float_weight(g, n->input(i))) params += t->numel();
    }
    res.coverage.add(label, params, reason.empty(), reason);
    if (!reason.empty()) {
      res.left_float.emplace_back(label, reason);
      continue;
    }
    res.quantized.push_back(label);
    todo.push_back(n);
  }
  if (todo.empty()) return res;
  require_opset(model, 13, "per-axis DequantizeLinear of recurrent weights");
  for (ir::Node* n : todo) {
    res.weights_quantized += 2;
    // DynamicQuantizeLSTM has no layout attribute (layout exists from opset 14).
    const bool layout1 = model.opset_version() >= 14 && ir::int_attr(*n, "layout", 0) != 0;
    if (o.dynamic_lstm && n->op_type() == "LSTM" && !layout1) {
      store_dynamic_lstm(model, n, o.lstm_bits);
      ++res.dynamic_lstms;
      continue;
    }
    store_weight_only(g, n, 1, o.bits);
    store_weight_only(g, n, 2, o.bits);
  }
  remove_unused_initializers(g);
  g.sort_topologically();
  return res;
}

RecurrentQuantResult quantize_recurrent(ir::Model& model, const QdqOptions& o, bool dynamic_lstm) {
  RecurrentQuantOptions r;
  r.bits = o.recurrent_bits;
  r.lstm_bits = o.weights.bits;
  r.dynamic_lstm = dynamic_lstm;
  r.exclude_nodes = o.exclude_nodes;
  r.exclude_ops = o.exclude_ops;
  r.only_ops = o.only_ops;
  r.keep_io_float = o.keep_io_float;
  r.left_reason = o.recurrent_left_reason;
  return quantize_recurrent(model, r);
}

void merge_into(const RecurrentQuantResult& r, QuantReport& report) {
  report.quantized.insert(report.quantized.end(), r.quantized.begin(), r.quantized.end());
  report.left_float.insert(report.left_float.end(), r.left_float.begin(), r.left_float.end());
  report.coverage.merge(r.coverage);
  report.weights_quantized += r.weights_quantized;
}

std::string recurrent_note(const RecurrentQuantResult& r) {
  if (r.quantized.empty()) return {};
  const size_t weight_only = r.quantized.size() - r.dynamic_lstms;
  std::string s;
  if (r.dynamic_lstms > 0) s += fmt::format(", {} DynamicQuantizeLSTM int{}", r.dynamic_lstms, r.lstm_bits);
  if (weight_only > 0) s += fmt::format(", {} recurrent weight-only int{}", weight_only, r.bits);
  return s;
}

}  // namespace scalec::passes::quant
