#include "passes/quantize/fake_quant_graph.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "ir/node_attrs.h"
#include "kernels/common/quantize_math.h"
#include "kernels/ops/fake_quant_op.h"
#include "kernels/ops/op_registry.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/quant_bias.h"
#include "passes/quantize/quant_layers.h"

namespace scalec::passes {

namespace {

bool is_layer(const ir::Node& n) {
  return n.domain().empty() &&
         (n.op_type() == "Conv" || n.op_type() == "ConvTranspose" || n.op_type() == "Gemm" || n.op_type() == "MatMul");
}

// The range QuantizeLinear saturates an activation to: the whole container of its zero point.
quant::IntRange container_range(ir::DType t) {
  if (t == ir::DType::kInt8) return {-128, 127};
  if (t == ir::DType::kUInt8) return {0, 255};
  throw_bad_input("quantization-aware training supports int8 and uint8 activations, not {}", ir::dtype_name(t));
}

ir::Node* add_fake_quant(ir::Graph& g, const std::vector<ir::Value*>& ins, ir::Value* out, quant::IntRange r,
                         const std::string& name) {
  ir::Node* f = g.add_node("FakeQuantize", ins, {out}, kernels::kFakeQuantDomain);
  f->name = name;
  f->set_attribute(ir::GraphBuilder::attr("qmin", r.lo));
  f->set_attribute(ir::GraphBuilder::attr("qmax", r.hi));
  return f;
}

// The integers of float weight `w` under FakeQuantize `f`'s scale, zero point and range, computed
// as its kernel does (x / s in float, then round half to even), so the export is what training saw.
std::vector<int64_t> weight_integers(const ir::Tensor& w, const ir::Node& f) {
  const ir::Tensor& s = *f.input(1)->initializer;
  const ir::Tensor* z = f.input(2) ? &*f.input(2)->initializer : nullptr;
  const int64_t lo = ir::int_attr(f, "qmin", 0), hi = ir::int_attr(f, "qmax", 0);
  const int64_t channels = s.numel();
  int64_t inner = 1;
  if (channels > 1) {
    const int64_t axis = ir::int_attr(f, "axis", 1);
    for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.shape()[static_cast<size_t>(d)];
  }
  auto wv = w.values<float>();
  std::vector<int64_t> q(wv.size());
  for (size_t i = 0; i < wv.size(); ++i) {
    const int64_t c = channels > 1 ? (static_cast<int64_t>(i) / inner) % channels : 0;
    const float v = wv[i] / static_cast<float>(s.element_as_double(c));
    const int64_t zp = z ? static_cast<int64_t>(z->element_as_double(c)) : 0;
    q[i] = kernels::quantize_scaled(static_cast<double>(v), zp, lo, hi);
  }
  return q;
}

}  // namespace

std::map<const ir::Node*, FloatLayer> record_float_layers(const ir::Model& model) {
  const ir::Graph& g = *model.graph;
  std::map<const ir::Node*, FloatLayer> out;
  for (const auto& n : g.nodes()) {
    if (!is_layer(*n)) continue;
    const ir::Tensor* w = quant::float_weight(g, n->input(1));
    if (!w) continue;
    FloatLayer f{n->input(1)->name(), {}, *w, {}};
    if (const ir::Tensor* b = quant::float_bias(g, n->input(2))) {
      f.bias_name = n->input(2)->name();
      f.bias = *b;
    }
    out.emplace(n.get(), std::move(f));
  }
  return out;
}

FakeQuantGraph qdq_to_fake_quant(ir::Model& model, const std::map<const ir::Node*, FloatLayer>& floats,
                                 const QdqOptions& options) {
  ir::Graph& g = *model.graph;
  FakeQuantGraph out;
  std::vector<ir::Node*> layers;  // graph order, not pointer order: names and node order stay deterministic
  for (const auto& n : g.nodes()) {
    if (floats.count(n.get())) layers.push_back(n.get());
  }
  for (ir::Node* n : layers) {
    const FloatLayer& fl = floats.at(n);
    const ir::Node* dq = n->input(1) ? n->input(1)->producer() : nullptr;
    if (!dq || dq->op_type() != "DequantizeLinear" || !dq->input(0)->is_initializer()) continue;  // left float
    if (ir::int_attr(*dq, "block_size", 0) > 0) throw_bad_input("quantization-aware training takes per-channel or per-tensor weights, not blocks");
    auto bits = options.layer_bits.find(n->name);
    const quant::IntRange r = quant::int_range(bits == options.layer_bits.end() ? options.weights.bits : bits->second,
                                               options.weights.is_signed, options.weights.symmetric);
    FakeQuantWeight w{nullptr, n, dq->input(0)->initializer->dtype(), nullptr};
    ir::Value* weight = g.add_initializer(g.unique_name(fl.weight_name), fl.weight);
    ir::Value* fq_out = g.create_value(g.unique_name(fl.weight_name + "_fake_quantized"));
    w.fake_quant = add_fake_quant(g, {weight, dq->input(1), dq->input(2)}, fq_out, r, g.unique_name(fl.weight_name + "_FakeQuantize"));
    if (dq->input(1)->initializer->numel() > 1) w.fake_quant->set_attribute(ir::GraphBuilder::attr("axis", ir::int_attr(*dq, "axis", 1)));
    n->set_input(1, fq_out);
    const ir::Node* bias_dq = n->input(2) ? n->input(2)->producer() : nullptr;
    const ir::Node* x_dq = n->input(0) ? n->input(0)->producer() : nullptr;
    if (bias_dq && bias_dq->op_type() == "DequantizeLinear" && fl.bias.dtype() == ir::DType::kFloat) {
      if (!x_dq || x_dq->op_type() != "DequantizeLinear") throw_internal("layer '{}' has an int32 bias but no input pair", n->name);
      // The bias scale x_scale * w_scale follows both scales as they move; the product is the float
      // one quantize_bias computes.
      ir::Value* bias = g.add_initializer(g.unique_name(fl.bias_name), fl.bias);
      ir::Value* bias_scale = g.create_value(g.unique_name(fl.bias_name + "_scale"));
      g.add_node("Mul", {x_dq->input(1), dq->input(1)}, {bias_scale})->name = g.unique_name(fl.bias_name + "_scale_Mul");
      ir::Value* fq_bias = g.create_value(g.unique_name(fl.bias_name + "_fake_quantized"));
      w.bias_fake_quant = add_fake_quant(g, {bias, bias_scale}, fq_bias, {INT32_MIN, INT32_MAX}, g.unique_name(fl.bias_name + "_FakeQuantize"));
      if (dq->input(1)->initializer->numel() > 1) w.bias_fake_quant->set_attribute(ir::GraphBuilder::attr("axis", int64_t{0}));
      ir::Attribute no_scale_grad;  // the scales learn from their own pairs (LSQ), not from the bias grid
      no_scale_grad.name = "grad_scale";
      no_scale_grad.kind = ir::Attribute::Kind::kFloat;
      no_scale_grad.f = 0.0f;
      w.bias_fake_quant->set_attribute(no_scale_grad);
      n->set_input(2, fq_bias);
    }
    out.weights.push_back(w);
  }
  std::vector<ir::Node*> pairs;
  for (const auto& n : g.nodes()) {
    if (n->op_type() == "QuantizeLinear" && n->domain().empty()) pairs.push_back(n.get());
  }
  for (ir::Node* q : pairs) {
    ir::Value* qv = q->output(0);
    if (qv->uses().size() != 1 || qv->uses()[0].node->op_type() != "DequantizeLinear") {
      throw_internal("quantize-qdq wrote a QuantizeLinear '{}' not read by exactly one DequantizeLinear", q->name);
    }
    ir::Node* dq = qv->uses()[0].node;
    ir::Value *x = q->input(0), *scale = q->input(1), *zp = q->input(2);
    if (!scale->is_initializer() || !zp || !zp->is_initializer()) throw_internal("QuantizeLinear '{}' has no constant scale and zero point", q->name);
    const quant::IntRange r = container_range(zp->initializer->dtype());
    const std::string name = q->name;
    ir::Value* y = g.create_value(g.unique_name(dq->output(0)->name() + "_fake_quantized"));
    g.replace_all_uses(dq->output(0), y);
    g.remove_node(dq);
    g.remove_node(q);
    out.activations.push_back(add_fake_quant(g, {x, scale, zp}, y, r, name));
  }
  model.opset_imports.push_back({kernels::kFakeQuantDomain, 1});
  quant::remove_dead_dequantize(g);
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  return out;
}

void fake_quant_to_qdq(ir::Model& model, const FakeQuantGraph& fq) {
  ir::Graph& g = *model.graph;
  // Weights first: an int32 bias takes the scale of the activation pair feeding its layer.
  for (const FakeQuantWeight& w : fq.weights) {
    ir::Node* f = w.fake_quant;
    ir::Node* n = w.layer;
    const ir::Tensor& weight = *f->input(0)->initializer;
    quant::QuantizedWeight qw;
    qw.q = quant::make_integer_tensor(w.storage, weight.shape(), weight_integers(weight, *f));
    qw.scale = *f->input(1)->initializer;
    if (f->input(2)) qw.zero_point = *f->input(2)->initializer;
    qw.axis = qw.scale.numel() > 1 ? ir::int_attr(*f, "axis", 1) : 0;
    // The bias first: its Mul still reads the weight scale, whose name the new DequantizeLinear takes.
    ir::Node* fb = w.bias_fake_quant;
    float x_scale = 0;
    if (fb) {
      const ir::Node* act = n->input(0)->producer();
      if (!act || act->op_type() != "FakeQuantize") throw_internal("layer '{}' lost the pair on its input", n->name);
      x_scale = static_cast<float>(act->input(1)->initializer->element_as_double(0));
      ir::Node* mul = fb->input(1)->producer();
      n->set_input(2, fb->input(0));  // the float bias, requantized to int32 below with the final scales
      g.remove_node(fb);
      g.remove_node(mul);
    }
    const std::string base = f->input(0)->name();
    const bool with_zero_point = f->input(2) != nullptr;
    n->set_input(1, nullptr);
    g.remove_node(f);
    quant::remove_unused_initializers(g);  // frees the names quantize-qdq gave them
    n->set_input(1, quant::add_dequantize_weight(g, n, qw, base, with_zero_point));
    if (fb) quant::quantize_bias(g, n, x_scale, qw);
  }
  for (ir::Node* f : fq.activations) {
    ir::Value *x = f->input(0), *scale = f->input(1), *zp = f->input(2), *y = f->output(0);
    const std::string name = f->name;
    ir::Value* q = g.create_value(g.unique_name(x->name() + "_quantized"));
    ir::Value* dq = g.create_value(g.unique_name(x->name() + "_dequantized"));
    g.replace_all_uses(y, dq);
    g.remove_node(f);
    g.add_node("QuantizeLinear", {x, scale, zp}, {q})->name = name;
    std::string dq_name = name;
    if (auto at = dq_name.rfind("_QuantizeLinear"); at != std::string::npos) dq_name.replace(at, 15, "_DequantizeLinear");
    else dq_name += "_DequantizeLinear";
    g.add_node("DequantizeLinear", {q, scale, zp}, {dq})->name = g.unique_name(dq_name);
  }
  std::erase_if(model.opset_imports, [](const ir::OpsetImport& o) { return o.domain == kernels::kFakeQuantDomain; });
  quant::remove_unused_initializers(g);
  g.sort_topologically();
}

}  // namespace scalec::passes
