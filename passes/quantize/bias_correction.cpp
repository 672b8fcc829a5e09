#include "passes/quantize/bias_correction.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "ir/error.h"
#include "ir/node_attrs.h"
#include "kernels/exec/executor.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes {

namespace {

// A node bias correction handles: Conv, Gemm, or MatMul whose only reader is an Add of a constant
// bias (an exported Linear layer: `add` and the bias's input slot).
struct Candidate {
  ir::Node* node;
  int64_t axis;  ///< channel axis of the node's input 0
  ir::Node* add = nullptr;
  size_t add_slot = 0;
};

// The Add that adds a constant [N] (or [1, ..., N]) bias to MatMul output `y` [..., N], and the
// bias's input slot; {nullptr, 0} when y has another reader or the Add is anything else.
std::pair<ir::Node*, size_t> bias_add(const ir::Graph& g, const ir::Value* y, int64_t n_out) {
  if (y->uses().size() != 1 || quant::is_graph_output(g, y)) return {nullptr, 0};
  ir::Node* add = y->uses()[0].node;
  if (add->op_type() != "Add" || !add->domain().empty() || add->inputs().size() != 2) return {nullptr, 0};
  const size_t slot = 1 - y->uses()[0].input_index;
  const ir::Tensor* b = quant::float_weight(g, add->input(slot));
  if (!b || b->numel() != n_out || (b->rank() > 0 && b->shape().back() != n_out)) return {nullptr, 0};
  return {add, slot};
}

std::vector<Candidate> candidates(const ir::Graph& g, const BiasCorrectionOptions& o) {
  std::vector<Candidate> out;
  for (ir::Node* n : g.topological_order()) {
    const std::string& op = n->op_type();
    if (!n->domain().empty() || (op != "Conv" && op != "Gemm" && op != "MatMul")) continue;
    if (o.exclude_nodes.count(n->name) || o.exclude_ops.count(op)) continue;
    const ir::Value* x = n->input(0);
    if (!x || x->is_initializer() || !quant::is_float_value(x)) continue;
    if (o.keep_io_float && (quant::is_graph_input(g, x) || quant::is_graph_output(g, n->output(0)))) continue;
    const ir::Tensor* w = quant::float_weight(g, n->input(1));
    if (!w || w->rank() < 2) continue;
    if (op == "MatMul") {
      if (w->rank() != 2) continue;
      const auto [add, slot] = bias_add(g, n->output(0), w->shape()[1]);
      if (add) out.push_back({n, -1, add, slot});
      continue;
    }
    if (op == "Gemm" && (w->rank() != 2 || ir::int_attr(*n, "transA", 0) != 0)) continue;
    const ir::Value* b = n->input(2);
    if (b && (!quant::float_weight(g, b) || b->initializer->rank() != 1)) continue;
    if (op == "Gemm" && b && ir::float_attr(*n, "beta", 1.0f) == 0.0f) continue;
    out.push_back({n, op == "Conv" ? 1 : -1});
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, int64_t>> bias_correction_inputs(const ir::Model& model,
                                                                    const BiasCorrectionOptions& options) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const Candidate& c : candidates(*model.graph, options)) {
    const std::string& name = c.node->input(0)->name();
    if (std::none_of(out.begin(), out.end(), [&](const auto& e) { return e.first == name; })) out.emplace_back(name, c.axis);
  }
  return out;
}

std::map<std::string, std::vector<double>> channel_means(const ir::Model& model,
                                                         const std::vector<std::pair<std::string, int64_t>>& values,
                                                         const calibration::BatchSource& data, int64_t batch, int threads) {
  struct Acc {
    int64_t axis;
    std::vector<double> sum;
    int64_t count = 0;  // elements per channel so far
  };
  std::map<std::string, Acc> acc;
  auto observe = [&acc](const std::string& name, const ir::Tensor& t) {
    Acc& a = acc.at(name);
    if (t.dtype() != ir::DType::kFloat) throw_bad_input("bias-correction: value '{}' is not float32", name);
    const int64_t rank = t.rank();
    const int64_t axis = a.axis < 0 ? a.axis + rank : a.axis;
    if (axis < 0 || axis >= rank) throw_bad_input("bias-correction: value '{}' has no axis {}", name, a.axis);
    const int64_t c = t.shape()[static_cast<size_t>(axis)];
    int64_t inner = 1;
    for (int64_t d = axis + 1; d < rank; ++d) inner *= t.shape()[static_cast<size_t>(d)];
    if (a.sum.empty()) a.sum.assign(static_cast<size_t>(c), 0.0);
    if (static_cast<int64_t>(a.sum.size()) != c) throw_bad_input("bias-correction: value '{}' changed channel count", name);
    auto v = t.values<float>();
    for (int64_t i = 0; i < t.numel(); ++i) a.sum[static_cast<size_t>((i / inner) % c)] += static_cast<double>(v[static_cast<size_t>(i)]);
    a.count += c > 0 ? t.numel() / c : 0;
  };
  kernels::Executor exec(model, {.threads = threads, .training = false});
  const ir::Graph& g = *model.graph;
  std::vector<std::string> inputs;
  for (const auto& [name, axis] : values) {
    acc.emplace(name, Acc{axis, {}, 0});
    const ir::Value* v = g.find_value(name);
    if (!v) throw_bad_input("bias-correction: the model has no value named '{}'", name);
    if (v->producer()) {
      exec.add_tap(v, [observe](const ir::Value& val, const ir::Tensor& t) { observe(val.name(), t); });
    } else {
      inputs.push_back(name);
    }
  }
  for (int64_t begin = 0; begin < data.samples; begin += batch) {
    kernels::NamedTensors feeds = data.batch(begin, std::min(data.samples, begin + batch));
    for (const auto& [name, t] : feeds) {
      if (std::find(inputs.begin(), inputs.end(), name) != inputs.end()) observe(name, t);
    }
    exec.run(feeds);
  }
  std::map<std::string, std::vector<double>> means;
  for (auto& [name, a] : acc) {
    for (double& s : a.sum) s /= static_cast<double>(std::max<int64_t>(a.count, 1));
    means[name] = std::move(a.sum);
  }
  return means;
}

std::string BiasCorrection::run(ir::Model& model) {
  ir::Graph& g = *model.graph;
  size_t corrected = 0;
  double largest = 0;
  for (const Candidate& cand : candidates(g, options_)) {
    ir::Node* n = cand.node;
    auto mean_it = options_.means.find(n->input(0)->name());
    if (mean_it == options_.means.end()) continue;
    const std::vector<double>& mean = mean_it->second;
    const ir::Tensor w = *quant::float_weight(g, n->input(1));
    const quant::WeightAxes axes = quant::weight_axes(*n, w.rank());
    auto pre = options_.prequantized.find(n->input(1)->name());
    quant::WeightQuantOptions wo = options_.weights;
    auto bits = options_.layer_bits.find(n->name);
    if (bits != options_.layer_bits.end()) wo.bits = bits->second;
    const ir::Tensor wq = quant::dequantize_weight(pre != options_.prequantized.end()
                                                       ? pre->second
                                                       : quant::quantize_weight(w, axes.channel, axes.reduction, wo));
    const std::vector<int64_t>& s = w.shape();
    const bool conv = n->op_type() == "Conv";
    const bool trans_b = !conv && ir::int_attr(*n, "transB", 0) != 0;
    const int64_t m_count = conv ? s[0] : (trans_b ? s[0] : s[1]);
    const int64_t groups = conv ? ir::int_attr(*n, "group", 1) : 1;
    int64_t inner = 1;
    for (size_t d = 2; d < s.size(); ++d) inner *= s[d];
    const int64_t per_group_in = conv ? s[1] : 0, per_group_out = m_count / std::max<int64_t>(groups, 1);
    auto wv = w.values<float>();
    auto qv = wq.values<float>();
    std::vector<double> shift(static_cast<size_t>(m_count), 0.0);
    bool fits = true;
    for (int64_t i = 0; i < w.numel() && fits; ++i) {
      int64_t m = 0, c = 0;
      if (conv) {
        m = i / (per_group_in * inner);
        c = (m / per_group_out) * per_group_in + (i / inner) % per_group_in;
      } else {
        m = trans_b ? i / s[1] : i % s[1];
        c = trans_b ? i % s[1] : i / s[1];
      }
      if (c >= static_cast<int64_t>(mean.size())) fits = false;
      else shift[static_cast<size_t>(m)] += (static_cast<double>(wv[static_cast<size_t>(i)]) -
                                             static_cast<double>(qv[static_cast<size_t>(i)])) * mean[static_cast<size_t>(c)];
    }
    if (!fits) throw_bad_input("bias-correction: input of '{}' has {} channels, its weight needs more",
                               quant::node_label(g, n), mean.size());
    // The bias: the Add's constant after a MatMul, input 2 of Conv / Gemm (C, scaled by beta / alpha).
    ir::Node* holder = cand.add ? cand.add : n;
    const size_t slot = cand.add ? cand.add_slot : 2;
    const ir::Value* old_value = holder->inputs().size() > slot ? holder->input(slot) : nullptr;
    const ir::Tensor* old = old_value ? quant::float_weight(g, old_value) : nullptr;
    if (old && old->numel() != m_count) continue;
    const bool gemm = n->op_type() == "Gemm";
    const double gain = !gemm ? 1.0 : static_cast<double>(ir::float_attr(*n, "alpha", 1.0f)) /
                                          static_cast<double>(old_value ? ir::float_attr(*n, "beta", 1.0f) : 1.0f);
    ir::Tensor b(ir::DType::kFloat, cand.add ? old->shape() : std::vector<int64_t>{m_count});
    auto bv = b.mutable_values<float>();
    for (int64_t m = 0; m < m_count; ++m) {
      const double base = old ? static_cast<double>(old->values<float>()[static_cast<size_t>(m)]) : 0.0;
      const double delta = gain * shift[static_cast<size_t>(m)];
      largest = std::max(largest, std::fabs(delta));
      bv[static_cast<size_t>(m)] = static_cast<float>(base + delta);
    }
    const std::string name = (old_value ? old_value->name() : quant::node_label(g, n) + "_bias") + "_corrected";
    ir::Value* nb = g.add_initializer(g.unique_name(name), std::move(b));
    if (holder->inputs().size() > slot) {
      holder->set_input(slot, nb);
    } else {
      holder->add_input(nb);
    }
    if (!old_value && gemm) {
      ir::Attribute beta;
      beta.name = "beta";
      beta.kind = ir::Attribute::Kind::kFloat;
      beta.f = 1.0f;
      n->set_attribute(beta);
    }
    ++corrected;
  }
  quant::remove_unused_initializers(g);
  return fmt::format("bias-correction: {} bias{} corrected (largest shift {:.3g})", corrected, corrected == 1 ? "" : "es",
                     largest);
}

}  // namespace scalec::passes
