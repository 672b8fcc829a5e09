#include "passes/fuse/fold_batchnorm.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "ir/graph_edit.h"
#include "ir/node_attrs.h"
#include "ir/weight_slots.h"

namespace scalec::passes {

namespace {

bool is_graph_input(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
}
bool is_graph_output(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

// A float initializer a user cannot override through a graph input, or null.
const ir::Tensor* float_constant(const ir::Graph& g, const ir::Value* v) {
  if (!v || !v->is_initializer() || is_graph_input(g, v) || v->owner() != &g) return nullptr;
  return v->initializer->dtype() == ir::DType::kFloat ? &*v->initializer : nullptr;
}

// Input `index` of `node` gets tensor `t`: edited in place when only this node reads it.
void set_constant_input(ir::Graph& g, ir::Node* node, size_t index, ir::Tensor t, const std::string& base) {
  ir::Value* v = node->input(index);
  if (v && v->uses().size() == 1 && !is_graph_output(g, v)) {
    v->initializer = std::move(t);
    return;
  }
  ir::Value* fresh = g.add_initializer(g.unique_name(base), std::move(t));
  if (index < node->inputs().size()) {
    node->set_input(index, fresh);
  } else {
    while (node->inputs().size() < index) node->add_input(nullptr);
    node->add_input(fresh);
  }
}

// Folds `bn` into `node` when every precondition holds; returns whether it did.
bool fold(ir::Graph& g, ir::Node* node, ir::Node* bn) {
  const std::string& op = node->op_type();
  if (ir::int_attr(*bn, "training_mode", 0) != 0) return false;
  for (size_t i = 1; i < bn->outputs().size(); ++i) {
    const ir::Value* o = bn->output(i);
    if (o && (!o->uses().empty() || is_graph_output(g, o))) return false;
  }
  const ir::Value* t = node->output(0);
  if (t->uses().size() != 1 || is_graph_output(g, t) || bn->input(0) != t) return false;
  const ir::Tensor* w = float_constant(g, node->input(1));
  const ir::Tensor* gamma = float_constant(g, bn->input(1));
  const ir::Tensor* beta = float_constant(g, bn->input(2));
  const ir::Tensor* mean = float_constant(g, bn->input(3));
  const ir::Tensor* var = float_constant(g, bn->input(4));
  if (!w || !gamma || !beta || !mean || !var || w->rank() < 2) return false;
  const ir::Tensor* b = nullptr;
  if (node->input(2)) {
    b = float_constant(g, node->input(2));
    if (!b) return false;
  }
  const auto& ws = w->shape();
  const std::optional<ir::WeightSlot> slot = ir::weight_slot(*node, w->rank());
  if (!slot || (op == "Gemm" && w->rank() != 2)) return false;
  const auto out_axis = static_cast<size_t>(slot->out_axis), in_axis = static_cast<size_t>(slot->in_axis);
  // ConvTranspose's weight holds M/group output channels for each group of input channels.
  const int64_t groups = slot->transposed ? ir::int_attr(*node, "group", 1) : 1;
  if (groups <= 0 || ws[in_axis] % groups != 0) return false;
  const int64_t channels = ws[out_axis] * groups;
  for (const ir::Tensor* p : {gamma, beta, mean, var}) {
    if (p->numel() != channels) return false;
  }
  float beta_g = 1.0f;  // alpha scales A B linearly, so scaling B by s covers it
  if (op == "Gemm") {
    beta_g = ir::float_attr(*node, "beta", 1.0f);
    if (b && b->numel() != 1 && !(b->numel() == channels && b->shape().back() == channels)) return false;
  } else if (b && b->numel() != channels) {
    return false;
  }
  const double eps = static_cast<double>(ir::float_attr(*bn, "epsilon", 1e-5f));
  std::vector<double> s(static_cast<size_t>(channels)), shift(static_cast<size_t>(channels));
  auto gv = gamma->values<float>(), bv = beta->values<float>(), mv = mean->values<float>(), vv = var->values<float>();
  for (size_t c = 0; c < s.size(); ++c) {
    s[c] = static_cast<double>(gv[c]) / std::sqrt(static_cast<double>(vv[c]) + eps);
    double bias = 0;
    if (b) bias = static_cast<double>(b->values<float>()[b->numel() == 1 ? 0 : c]) * (op == "Gemm" ? beta_g : 1.0f);
    shift[c] = (bias - static_cast<double>(mv[c])) * s[c] + static_cast<double>(bv[c]);
  }
  // Output channel of weight element i: its index along out_axis, plus its group's offset.
  auto stride_of = [&](size_t axis) {
    int64_t st = 1;
    for (size_t a = axis + 1; a < ws.size(); ++a) st *= ws[a];
    return st;
  };
  const int64_t out_stride = stride_of(out_axis), in_stride = stride_of(in_axis), per_group = ws[in_axis] / groups;
  auto channel_of = [&](int64_t i) -> size_t {
    const int64_t c = (i / out_stride) % ws[out_axis];
    const int64_t group = slot->transposed ? (i / in_stride) % ws[in_axis] / per_group : 0;
    return static_cast<size_t>(group * ws[out_axis] + c);
  };
  ir::Tensor w2(ir::DType::kFloat, ws);
  auto wi = w->values<float>();
  auto wo = w2.mutable_values<float>();
  for (int64_t i = 0; i < w->numel(); ++i) {
    wo[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(wi[static_cast<size_t>(i)]) * s[channel_of(i)]);
  }
  ir::Tensor b2(ir::DType::kFloat, {channels});
  auto bo = b2.mutable_values<float>();
  for (size_t c = 0; c < shift.size(); ++c) bo[c] = static_cast<float>(shift[c]);
  const std::string base = node->name.empty() ? op : node->name;
  set_constant_input(g, node, 1, std::move(w2), base + "_W_bnfolded");
  set_constant_input(g, node, 2, std::move(b2), base + "_B_bnfolded");
  if (op == "Gemm") {
    ir::Attribute one;
    one.name = "beta";
    one.kind = ir::Attribute::Kind::kFloat;
    one.f = 1.0f;
    node->set_attribute(one);
  }
  // Consumers of the BN output read the node's output instead.
  ir::bypass(g, bn, node->output(0));
  return true;
}

}  // namespace

std::string FoldBatchNorm::run(ir::Model& model) {
  ir::Graph& g = *model.graph;
  size_t folded = 0, seen = 0;
  std::vector<ir::Node*> bns;
  for (const auto& n : g.nodes()) {
    if (n->op_type() == "BatchNormalization" && n->domain().empty()) bns.push_back(n.get());
  }
  for (ir::Node* bn : bns) {
    ++seen;
    ir::Value* x = bn->input(0);
    ir::Node* p = x ? x->producer() : nullptr;
    if (!p || !p->domain().empty() || bn->inputs().size() < 5) continue;
    if (p->op_type() != "Conv" && p->op_type() != "ConvTranspose" && p->op_type() != "Gemm") continue;
    folded += fold(g, p, bn) ? 1 : 0;
  }
  g.remove_unused_values();
  g.sort_topologically();
  return fmt::format("fold-batchnorm: {} of {} BatchNormalization node{} folded", folded, seen, seen == 1 ? "" : "s");
}

}  // namespace scalec::passes
