#include "passes/quantize/fake_quant_bn.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "ir/node_attrs.h"

namespace scalec::passes {

namespace {

// A float initializer of `g` (not overridable through a graph input), or null.
const ir::Tensor* float_initializer(const ir::Graph& g, const ir::Value* v) {
  if (!v || !v->is_initializer() || v->initializer->dtype() != ir::DType::kFloat) return nullptr;
  if (std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end()) return nullptr;
  return &*v->initializer;
}

// sf = gamma / sqrt(var + eps) per channel, in float, as the graph's Add -> Sqrt -> Div computes it.
std::vector<float> scale_factors(const ir::Tensor& gamma, const ir::Tensor& var, float eps) {
  auto g = gamma.values<float>();
  auto v = var.values<float>();
  std::vector<float> sf(g.size());
  for (size_t c = 0; c < sf.size(); ++c) sf[c] = g[c] / std::sqrt(v[c] + eps);
  return sf;
}

// (b - mean) * sf + beta (beta - mean * sf without b), in float as the frozen graph computes it.
ir::Tensor folded_bias(const ir::Tensor* b, const ir::Tensor& mean, const ir::Tensor& beta, const std::vector<float>& sf) {
  ir::Tensor out(ir::DType::kFloat, {static_cast<int64_t>(sf.size())});
  auto m = mean.values<float>(), be = beta.values<float>();
  auto o = out.mutable_values<float>();
  for (size_t c = 0; c < sf.size(); ++c) o[c] = b ? (b->values<float>()[c] - m[c]) * sf[c] + be[c] : be[c] - m[c] * sf[c];
  return out;
}

// W * sf along axis 0 (a Conv weight's output channels), in float as the graph's Mul computes it.
ir::Tensor scale_rows(const ir::Tensor& w, const std::vector<float>& sf) {
  ir::Tensor out(ir::DType::kFloat, w.shape());
  auto wv = w.values<float>();
  auto ov = out.mutable_values<float>();
  const size_t per_row = wv.size() / sf.size();
  for (size_t i = 0; i < wv.size(); ++i) ov[i] = wv[i] * sf[i / per_row];
  return out;
}

// Removes `v` from the initializer list (its data stays with the caller) and returns where it was.
size_t take_initializer(ir::Graph& g, ir::Value* v) {
  auto it = std::find(g.initializers.begin(), g.initializers.end(), v);
  if (it == g.initializers.end()) throw_internal("'{}' is not an initializer", v->name());
  const auto at = static_cast<size_t>(it - g.initializers.begin());
  g.initializers.erase(it);
  v->initializer.reset();
  return at;
}

// Puts `v` back at `at` holding `t`.
void put_initializer(ir::Graph& g, ir::Value* v, size_t at, ir::Tensor t) {
  v->initializer = std::move(t);
  g.initializers.insert(g.initializers.begin() + static_cast<std::ptrdiff_t>(std::min(at, g.initializers.size())), v);
}

// A copy of `n` (op, domain, inputs, attributes, name) in its place, writing `out`; `n`'s outputs
// must be unused. Moves a layer's output to another value without renaming any value.
ir::Node* rebuild_with_output(ir::Graph& g, ir::Node* n, ir::Value* out) {
  const std::vector<ir::Value*> ins(n->inputs().begin(), n->inputs().end());
  ir::Node* m = g.insert_node_before(n, n->op_type(), ins, {out}, n->domain());
  m->name = n->name;
  m->doc_string = n->doc_string;
  for (const ir::Attribute& a : n->attributes()) m->set_attribute(a);
  g.remove_node(n);
  return m;
}

ir::Tensor int64s(std::vector<int64_t> v) {
  return ir::Tensor::from_int64s({static_cast<int64_t>(v.size())}, v);
}

}  // namespace

std::vector<ConvBnPair> record_conv_bn_pairs(const ir::Model& model) {
  const ir::Graph& g = *model.graph;
  std::vector<ConvBnPair> pairs;
  for (const auto& n : g.nodes()) {
    if (n->op_type() != "Conv" || !n->domain().empty() || !n->output(0) || n->output(0)->uses().size() != 1) continue;
    const ir::Node* bn = n->output(0)->uses()[0].node;
    if (bn->op_type() != "BatchNormalization" || !bn->domain().empty() || bn->inputs().size() < 5 || bn->input(0) != n->output(0)) {
      continue;
    }
    const ir::Tensor* w = float_initializer(g, n->input(1));
    const ir::Tensor* b = n->input(2) ? float_initializer(g, n->input(2)) : nullptr;
    const ir::Tensor* p[4];
    for (size_t i = 0; i < 4; ++i) p[i] = float_initializer(g, bn->input(i + 1));
    if (!w || (n->input(2) && !b) || !p[0] || !p[1] || !p[2] || !p[3] || w->rank() < 3) continue;
    ConvBnPair pair;
    pair.conv = n.get();
    pair.batch_norm = bn;
    pair.weight_name = n->input(1)->name();
    pair.bias_name = b ? n->input(2)->name() : "";
    pair.bn_name = bn->name;
    pair.weight = *w;
    if (b) pair.bias = *b;
    pair.gamma = *p[0];
    pair.beta = *p[1];
    pair.mean = *p[2];
    pair.var = *p[3];
    pair.epsilon = ir::float_attr(*bn, "epsilon", 1e-5f);
    pair.momentum = ir::float_attr(*bn, "momentum", 0.9f);
    pairs.push_back(std::move(pair));
  }
  return pairs;
}

// One pair in fake-quant form: what was added for training and what was taken away, to put it back.
struct BatchNormFakeQuant::Unfolded {
  size_t weight_index = 0;  // into fq_.weights
  ir::Value *weight = nullptr, *bias = nullptr, *gamma = nullptr, *beta = nullptr, *mean = nullptr, *var = nullptr;
  ir::Value *epsilon = nullptr, *channel_shape = nullptr;
  float epsilon_value = 1e-5f, momentum = 0.9f;
  std::string bn_name;
  ir::Value* sf = nullptr;         // gamma / sqrt(var + eps)
  ir::Value* layer_out = nullptr;  // the layer's output value, whichever node writes it
  std::vector<ir::Node*> weight_chain;  // Add, Sqrt, Div, Reshape, Mul: FakeQuantize's input W * sf (both forms)
  std::vector<ir::Node*> output_chain;  // the nodes after the Conv: Reshape, Div, [Add], BatchNormalization / the bias fold
  std::vector<ir::Value*> added_initializers;
  ir::Value* folded_weight = nullptr;  // the FakeQuantize's initializer, taken out while training
  size_t folded_weight_at = 0;
  ir::Value* folded_bias = nullptr;    // the float bias (int32-fake-quantized or plain), taken out while training
  size_t folded_bias_at = 0;
  ir::Value* conv_bias_in = nullptr;   // the Conv's input 2 (the bias FakeQuantize's output, or the bias)
  // The bias FakeQuantize: removed while BatchNormalization adds the bias, rebuilt by freeze().
  std::string bias_fq_name, bias_fq_domain;
  std::vector<ir::Value*> bias_fq_inputs;
  std::vector<ir::Attribute> bias_fq_attrs;
};

namespace {

// Adds a one-output node named after `base` to `g` and to `chain`.
ir::Value* chain_op(ir::Graph& g, std::vector<ir::Node*>& chain, const std::string& type, const std::vector<ir::Value*>& ins,
                    const std::string& base, ir::Value* out = nullptr) {
  if (!out) out = g.create_value(g.unique_name(base));
  ir::Node* n = g.add_node(type, ins, {out});
  n->name = g.unique_name(base);
  chain.push_back(n);
  return out;
}

// Points the layer's readers at `v` for a moment, so the node writing `u.layer_out` can change.
ir::Value* detach_readers(ir::Graph& g, ir::Value* out) {
  ir::Value* hold = g.create_value(g.unique_name(out->name() + "_readers"));
  g.replace_all_uses(out, hold);
  return hold;
}

void remove_chain(ir::Graph& g, std::vector<ir::Node*>& chain) {
  for (auto n = chain.rbegin(); n != chain.rend(); ++n) g.remove_node(*n);
  chain.clear();
}

}  // namespace

BatchNormFakeQuant::BatchNormFakeQuant(ir::Model& model, FakeQuantGraph& fq, const std::vector<ConvBnPair>& pairs)
    : model_(model), fq_(fq) {
  ir::Graph& g = *model.graph;
  std::set<const ir::Node*> alive;
  for (const auto& n : g.nodes()) alive.insert(n.get());
  for (const ConvBnPair& p : pairs) {
    if (alive.count(p.batch_norm) || !alive.count(p.conv)) continue;  // not folded
    auto fw = std::find_if(fq.weights.begin(), fq.weights.end(), [&](const FakeQuantWeight& w) { return w.layer == p.conv; });
    if (fw == fq.weights.end()) continue;  // the layer stayed float
    ir::Node* conv = fw->layer;
    ir::Node* f = fw->fake_quant;
    // fold-batchnorm always leaves a bias; without one there is nothing to put the fold back into
    if (!f->input(0) || !f->input(0)->is_initializer() || !conv->input(2) || p.weight.shape()[0] != p.gamma.numel()) continue;
    auto gv = p.gamma.values<float>();
    if (std::any_of(gv.begin(), gv.end(), [](float x) { return std::fabs(x) < 1e-6f; })) continue;  // sf would be 0
    auto u = std::make_unique<Unfolded>();
    u->weight_index = static_cast<size_t>(fw - fq.weights.begin());
    u->epsilon_value = p.epsilon;
    u->momentum = p.momentum;
    u->bn_name = p.bn_name.empty() ? conv->name + "_bn" : p.bn_name;
    const std::string& bn = u->bn_name;
    auto add_init = [&](const std::string& name, ir::Tensor t) {
      ir::Value* v = g.add_initializer(g.unique_name(name), std::move(t));
      u->added_initializers.push_back(v);
      return v;
    };
    u->weight = add_init(p.weight_name, p.weight);
    if (!p.bias_name.empty()) u->bias = add_init(p.bias_name, p.bias);
    u->gamma = add_init(bn + ".scale", p.gamma);
    u->beta = add_init(bn + ".bias", p.beta);
    u->mean = add_init(bn + ".running_mean", p.mean);
    u->var = add_init(bn + ".running_var", p.var);
    u->epsilon = add_init(bn + ".epsilon", ir::Tensor::from_floats({1}, std::vector<float>{p.epsilon}));
    const size_t rank = p.weight.shape().size();
    std::vector<int64_t> per_row(rank, 1), per_channel(rank, 1);
    per_row[0] = -1;
    per_channel[1] = -1;
    ir::Value* row_shape = add_init(bn + ".row_shape", int64s(per_row));
    u->channel_shape = add_init(bn + ".channel_shape", int64s(per_channel));
    auto& wc = u->weight_chain;
    ir::Value* std_dev = chain_op(g, wc, "Sqrt", {chain_op(g, wc, "Add", {u->var, u->epsilon}, bn + "_var_eps")}, bn + "_std");
    u->sf = chain_op(g, wc, "Div", {u->gamma, std_dev}, bn + "_sf");
    ir::Value* folded = chain_op(g, wc, "Mul", {u->weight, chain_op(g, wc, "Reshape", {u->sf, row_shape}, bn + "_sf_rows")},
                                 bn + "_folded_weight");
    u->folded_weight = f->input(0);
    f->set_input(0, folded);
    u->folded_weight_at = take_initializer(g, u->folded_weight);
    // The Conv runs without its folded bias while the BatchNormalization adds beta.
    u->conv_bias_in = conv->input(2);
    if (ir::Node* fb = fw->bias_fake_quant) {
      u->folded_bias = fb->input(0);
      u->bias_fq_name = fb->name;
      u->bias_fq_domain = fb->domain();
      u->bias_fq_inputs.assign(fb->inputs().begin(), fb->inputs().end());
      u->bias_fq_attrs = fb->attributes();
      conv->set_input(2, nullptr);
      g.remove_node(fb);
      fw->bias_fake_quant = nullptr;
    } else if (u->conv_bias_in) {
      u->folded_bias = u->conv_bias_in;
      conv->set_input(2, nullptr);
    }
    if (u->folded_bias) u->folded_bias_at = take_initializer(g, u->folded_bias);
    // y = BatchNormalization(Conv(x, FQ(W * sf)) / sf [+ b]) writes the value the Conv wrote, so
    // every name the quantization ranges know stays where it was.
    u->layer_out = conv->output(0);
    ir::Value* hold = detach_readers(g, u->layer_out);
    ir::Value* conv_raw = g.create_value(g.unique_name(u->layer_out->name() + "_conv"));
    fw->layer = rebuild_with_output(g, conv, conv_raw);
    auto& oc = u->output_chain;
    ir::Value* unscaled = chain_op(g, oc, "Div", {conv_raw, chain_op(g, oc, "Reshape", {u->sf, u->channel_shape}, bn + "_sf_channels")},
                                   bn + "_unscaled");
    if (u->bias) unscaled = chain_op(g, oc, "Add", {unscaled, u->bias}, bn + "_biased");
    chain_op(g, oc, "BatchNormalization", {unscaled, u->gamma, u->beta, u->mean, u->var}, bn, u->layer_out);
    oc.back()->set_attribute(ir::GraphBuilder::attr("epsilon", p.epsilon));
    oc.back()->set_attribute(ir::GraphBuilder::attr("momentum", p.momentum));
    g.replace_all_uses(hold, u->layer_out);
    unfolded_.push_back(std::move(u));
  }
  g.sort_topologically();
}

BatchNormFakeQuant::~BatchNormFakeQuant() = default;

size_t BatchNormFakeQuant::size() const { return unfolded_.size(); }

std::vector<std::string> BatchNormFakeQuant::constants() const {
  std::vector<std::string> out;
  for (const auto& u : unfolded_) out.push_back(u->epsilon->name());
  return out;
}

void BatchNormFakeQuant::freeze() {
  if (frozen_) return;
  ir::Graph& g = *model_.graph;
  for (const auto& u : unfolded_) {
    FakeQuantWeight& fw = fq_.weights[u->weight_index];
    ir::Value* hold = detach_readers(g, u->layer_out);
    remove_chain(g, u->output_chain);
    fw.layer = rebuild_with_output(g, fw.layer, u->layer_out);
    // The bias the BatchNormalization added, folded: (b - mean) * sf + beta, on the int32 grid again.
    auto& oc = u->output_chain;
    const std::string& bn = u->bn_name;
    ir::Value* shifted = u->bias ? chain_op(g, oc, "Mul", {chain_op(g, oc, "Sub", {u->bias, u->mean}, bn + "_centered"), u->sf}, bn + "_shift")
                                 : chain_op(g, oc, "Mul", {u->mean, u->sf}, bn + "_shift");
    ir::Value* bias = u->bias ? chain_op(g, oc, "Add", {shifted, u->beta}, bn + "_folded_bias")
                              : chain_op(g, oc, "Sub", {u->beta, shifted}, bn + "_folded_bias");
    if (!u->bias_fq_name.empty()) {
      std::vector<ir::Value*> ins = u->bias_fq_inputs;
      ins[0] = bias;
      ir::Node* fb = g.add_node("FakeQuantize", ins, {u->conv_bias_in}, u->bias_fq_domain);
      fb->name = u->bias_fq_name;
      for (const ir::Attribute& a : u->bias_fq_attrs) fb->set_attribute(a);
      oc.push_back(fb);
      fw.bias_fake_quant = fb;
      fw.layer->set_input(2, u->conv_bias_in);
    } else {
      fw.layer->set_input(2, bias);
    }
    g.replace_all_uses(hold, u->layer_out);
  }
  frozen_ = true;
  g.sort_topologically();
}

std::optional<ir::Tensor> BatchNormFakeQuant::folded_weight(const FakeQuantWeight& w) const {
  for (const auto& u : unfolded_) {
    if (fq_.weights[u->weight_index].fake_quant != w.fake_quant) continue;
    return scale_rows(*u->weight->initializer, scale_factors(*u->gamma->initializer, *u->var->initializer, u->epsilon_value));
  }
  return std::nullopt;
}

ir::Value* BatchNormFakeQuant::trained_weight(const FakeQuantWeight& w) const {
  for (const auto& u : unfolded_) {
    if (fq_.weights[u->weight_index].fake_quant == w.fake_quant) return u->weight;
  }
  return w.fake_quant->input(0);
}

void BatchNormFakeQuant::refold() {
  freeze();  // the folded arithmetic: the export is the frozen form with its fold stored
  ir::Graph& g = *model_.graph;
  for (const auto& u : unfolded_) {
    FakeQuantWeight& fw = fq_.weights[u->weight_index];
    const std::vector<float> sf = scale_factors(*u->gamma->initializer, *u->var->initializer, u->epsilon_value);
    ir::Tensor w_fold = scale_rows(*u->weight->initializer, sf);
    ir::Tensor b_fold = folded_bias(u->bias ? &*u->bias->initializer : nullptr, *u->mean->initializer, *u->beta->initializer, sf);
    fw.fake_quant->set_input(0, u->folded_weight);
    put_initializer(g, u->folded_weight, u->folded_weight_at, std::move(w_fold));
    if (fw.bias_fake_quant) fw.bias_fake_quant->set_input(0, u->folded_bias);
    else if (u->folded_bias) fw.layer->set_input(2, u->folded_bias);
    if (u->folded_bias) put_initializer(g, u->folded_bias, u->folded_bias_at, std::move(b_fold));
    // the fold's nodes: the bias FakeQuantize stays, it is the export's
    if (fw.bias_fake_quant) u->output_chain.pop_back();
    remove_chain(g, u->output_chain);
    remove_chain(g, u->weight_chain);
    for (ir::Value* v : u->added_initializers) take_initializer(g, v);
  }
  unfolded_.clear();
  g.remove_unused_values();
  g.sort_topologically();
}

}  // namespace scalec::passes
