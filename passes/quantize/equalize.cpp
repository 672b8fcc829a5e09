#include "passes/quantize/equalize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "ir/node_attrs.h"
#include "passes/core/constant.h"
#include "passes/core/pass_options.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes {

namespace {

// One Conv -> act -> Conv chain; `clip_max` is finite for a Clip(0, m) that needs per-channel bounds.
struct Pair {
  ir::Node *first, *act, *second;
  double clip_max = std::numeric_limits<double>::infinity();
  std::vector<double> scale;  ///< cumulative s_i
};

bool single_use(const ir::Graph& g, const ir::Value* v) {
  return v && v->uses().size() == 1 && !quant::is_graph_output(g, v);
}

// A weight or bias that may be edited: constant float, read by this node only.
bool editable(const ir::Graph& g, const ir::Value* v) {
  return v && quant::float_weight(g, v) && v->uses().size() == 1;
}

double scalar_or(const ir::Graph& g, const ir::Value* v, double fallback) {
  if (!v) return fallback;
  const ir::Tensor* t = constant_tensor(g, v);
  return t && t->numel() == 1 ? t->element_as_double(0) : std::numeric_limits<double>::quiet_NaN();
}

// Clip bounds (opset >= 11 inputs, older attributes); NaN when they are not constants.
std::pair<double, double> clip_bounds(const ir::Graph& g, const ir::Node& clip) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (clip.attribute("min") || clip.attribute("max") || clip.inputs().size() == 1) {
    return {clip.attribute("min") ? static_cast<double>(ir::float_attr(clip, "min", 0)) : -kInf,
            clip.attribute("max") ? static_cast<double>(ir::float_attr(clip, "max", 0)) : kInf};
  }
  return {scalar_or(g, clip.input(1), -kInf), scalar_or(g, clip.input(2), kInf)};
}

bool is_conv(const ir::Node* n) { return n && n->op_type() == "Conv" && n->domain().empty(); }

int64_t groups_of(const ir::Node& n) { return ir::int_attr(n, "group", 1); }

std::vector<Pair> find_pairs(const ir::Graph& g, const std::set<std::string>& excluded) {
  std::vector<Pair> pairs;
  for (ir::Node* second : g.topological_order()) {
    if (!is_conv(second) || excluded.count(second->name) || !editable(g, second->input(1))) continue;
    ir::Value* x = second->input(0);
    ir::Node* act = x ? x->producer() : nullptr;
    Pair p{nullptr, nullptr, second, std::numeric_limits<double>::infinity(), {}};
    if (act && act->domain().empty() && (act->op_type() == "Relu" || act->op_type() == "Clip")) {
      if (!single_use(g, x)) continue;
      if (act->op_type() == "Clip") {
        const auto [lo, hi] = clip_bounds(g, *act);
        if (lo != 0.0 || !(hi > 0.0)) continue;  // only Clip(0, m): positively homogeneous up to m
        p.clip_max = hi;
      }
      p.act = act;
      x = act->input(0);
    }
    ir::Node* first = x ? x->producer() : nullptr;
    if (!is_conv(first) || excluded.count(first->name) || !single_use(g, x) || !editable(g, first->input(1))) continue;
    if (first->input(2) && !editable(g, first->input(2))) continue;
    const ir::Tensor& w1 = *first->input(1)->initializer;
    const ir::Tensor& w2 = *second->input(1)->initializer;
    if (w1.rank() < 3 || w2.rank() != w1.rank() || w2.shape()[1] * groups_of(*second) != w1.shape()[0]) continue;
    p.first = first;
    p.scale.assign(static_cast<size_t>(w1.shape()[0]), 1.0);
    pairs.push_back(std::move(p));
  }
  return pairs;
}

// Index helpers over a Conv weight [M, C/g, k...] held in a float vector.
struct ConvWeight {
  std::vector<int64_t> shape;
  std::vector<float> w;
  int64_t groups = 1;
  int64_t inner() const { return w.empty() ? 0 : static_cast<int64_t>(w.size()) / (shape[0] * shape[1]); }
  // Calls f(index) for every element reading input channel `c`.
  template <class F>
  void for_input_channel(int64_t c, F f) const {
    const int64_t per_in = shape[1], per_out = shape[0] / groups, k = inner();
    const int64_t grp = c / per_in, j = c % per_in;
    for (int64_t m = grp * per_out; m < (grp + 1) * per_out; ++m) {
      for (int64_t t = 0; t < k; ++t) f(static_cast<size_t>((m * per_in + j) * k + t));
    }
  }
  // Calls f(index) for every element of output channel `m`.
  template <class F>
  void for_output_channel(int64_t m, F f) const {
    const int64_t n = shape[1] * inner();
    for (int64_t t = 0; t < n; ++t) f(static_cast<size_t>(m * n + t));
  }
};

ConvWeight load(const ir::Node& n) {
  const ir::Tensor& t = *n.input(1)->initializer;
  auto v = t.values<float>();
  return {t.shape(), std::vector<float>(v.begin(), v.end()), groups_of(n)};
}

}  // namespace

std::string CrossLayerEqualization::run(ir::Model& model) {
  ir::Graph& g = *model.graph;
  std::vector<Pair> pairs = find_pairs(g, exclude_nodes_);
  std::map<ir::Node*, ConvWeight> weights;
  std::map<ir::Node*, std::vector<float>> biases;
  for (const Pair& p : pairs) {
    for (ir::Node* n : {p.first, p.second}) {
      if (!weights.count(n)) weights.emplace(n, load(*n));
    }
    if (p.first->input(2)) {
      auto b = p.first->input(2)->initializer->values<float>();
      biases[p.first] = std::vector<float>(b.begin(), b.end());
    }
  }
  int rounds = 0;
  for (bool done = pairs.empty(); !done;) {
    ++rounds;
    double worst = 0;
    for (Pair& p : pairs) {
      ConvWeight& w1 = weights.at(p.first);
      ConvWeight& w2 = weights.at(p.second);
      for (int64_t i = 0; i < w1.shape[0]; ++i) {
        double r1 = 0, r2 = 0;
        w1.for_output_channel(i, [&](size_t e) { r1 = std::max(r1, std::fabs(static_cast<double>(w1.w[e]))); });
        w2.for_input_channel(i, [&](size_t e) { r2 = std::max(r2, std::fabs(static_cast<double>(w2.w[e]))); });
        if (!(r1 > 0) || !(r2 > 0)) continue;
        const double s = std::sqrt(r1 / r2);
        worst = std::max(worst, std::fabs(s - 1.0));
        w1.for_output_channel(i, [&](size_t e) { w1.w[e] = static_cast<float>(static_cast<double>(w1.w[e]) / s); });
        w2.for_input_channel(i, [&](size_t e) { w2.w[e] = static_cast<float>(static_cast<double>(w2.w[e]) * s); });
        auto b = biases.find(p.first);
        if (b != biases.end()) b->second[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(b->second[static_cast<size_t>(i)]) / s);
        p.scale[static_cast<size_t>(i)] *= s;
      }
    }
    done = worst < 1e-6 || rounds >= 100;
  }
  for (auto& [n, w] : weights) {
    const std::string base = n->input(1)->name();
    n->set_input(1, g.add_initializer(g.unique_name(base + "_equalized"), ir::Tensor::from_floats(w.shape, w.w)));
  }
  for (auto& [n, b] : biases) {
    const std::string base = n->input(2)->name();
    n->set_input(2, g.add_initializer(g.unique_name(base + "_equalized"), ir::Tensor::from_floats({static_cast<int64_t>(b.size())}, b)));
  }
  size_t clips = 0;
  for (const Pair& p : pairs) {
    if (!std::isfinite(p.clip_max)) continue;
    // Clip(0, m) -> Relu -> Min(m / s_i): the bound follows each channel's scale.
    const int64_t c = static_cast<int64_t>(p.scale.size());
    std::vector<int64_t> shape(static_cast<size_t>(weights.at(p.first).shape.size()) - 1, 1);
    shape[0] = c;
    std::vector<float> bound(p.scale.size());
    for (size_t i = 0; i < bound.size(); ++i) bound[i] = static_cast<float>(p.clip_max / p.scale[i]);
    ir::Value* x = p.act->input(0);
    std::vector<ir::Node*> bound_producers;  // Constant nodes of the old bounds, removed when unused
    for (size_t k = 1; k < p.act->inputs().size(); ++k) {
      ir::Node* k_node = p.act->input(k) ? p.act->input(k)->producer() : nullptr;
      if (k_node && std::find(bound_producers.begin(), bound_producers.end(), k_node) == bound_producers.end()) {
        bound_producers.push_back(k_node);
      }
    }
    const std::string name = p.act->name.empty() ? "Clip" : p.act->name;
    ir::Value* y = quant::remove_keeping_output(g, p.act);
    ir::Value* r = g.create_value(g.unique_name(y->name() + "_relu"));
    g.add_node("Relu", {x}, {r})->name = g.unique_name(name + "_Relu");
    ir::Value* lim = g.add_initializer(g.unique_name(name + "_bound"), ir::Tensor::from_floats(shape, bound));
    g.add_node("Min", {r, lim}, {y})->name = g.unique_name(name + "_Min");
    for (ir::Node* k : bound_producers) {
      if (k->op_type() == "Constant" && k->output(0)->uses().empty() && !quant::is_graph_output(g, k->output(0))) {
        g.remove_node(k);
      }
    }
    ++clips;
  }
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  return fmt::format("equalize: {} Conv pair{} equalized in {} round{} ({} Clip(0, m) made per-channel)", pairs.size(),
                     pairs.size() == 1 ? "" : "s", rounds, rounds == 1 ? "" : "s", clips);
}

std::string CrossLayerEqualization::options_text() const {
  std::set<std::string> exclude = exclude_nodes_;
  return OptionFields().add("exclude-nodes", exclude).print();
}

}  // namespace scalec::passes
