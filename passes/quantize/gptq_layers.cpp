// run_gptq(): picks the layers the next quantization pass will quantize that GPTQ can handle,
// collects their Hessians — as many layers per calibration run as GptqOptions::hessian_budget_bytes
// allows — and quantizes each weight with GPTQ, freeing its Hessians right after. Per layer, the
// relative output error ||(W - Wq) X||^2 / ||W X||^2 on the calibration rows is measured for
// round-to-nearest and for GPTQ; where GPTQ does not beat round-to-nearest (it minimizes that error
// only greedily), the round-to-nearest weight is kept, so GPTQ never makes a layer worse on the data.
#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "ir/node_attrs.h"
#include "kernels/cpu/thread_pool.h"
#include "passes/quantize/gptq.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes {

namespace {

kernels::ConvAttrs conv_attrs_of(const ir::Node& n) {
  kernels::ConvAttrs a;
  a.auto_pad = ir::string_attr(n, "auto_pad", a.auto_pad);
  a.group = ir::int_attr(n, "group", a.group);
  a.kernel_shape = ir::ints_attr(n, "kernel_shape", a.kernel_shape);
  a.strides = ir::ints_attr(n, "strides", a.strides);
  a.dilations = ir::ints_attr(n, "dilations", a.dilations);
  a.pads = ir::ints_attr(n, "pads", a.pads);
  return a;
}

struct Candidate {
  const ir::Node* node;
  std::string label;
  const ir::Tensor* weight;
  quant::WeightAxes axes;
};

// Why GPTQ cannot take `n` (empty: it can), filling `layer` when it can.
std::string gptq_layer(const ir::Node& n, const ir::Tensor& w, calibration::HessianLayer& layer) {
  const std::string& op = n.op_type();
  const ir::Value* x = n.input(0);
  if (op == "ConvTranspose") return "GPTQ handles Conv, Gemm and MatMul";
  if (n.input(1)->uses().size() != 1) return "weight shared by several nodes";
  if (!x || x->is_initializer()) return "input 0 is constant";
  layer.input = x->name();
  if (op == "MatMul") {
    if (w.rank() != 2) return "MatMul weight of rank != 2";
    layer.k = w.shape()[0];
  } else if (op == "Gemm") {
    layer.layout = ir::int_attr(n, "transA", 0) != 0 ? calibration::HessianLayout::kColumns : calibration::HessianLayout::kRows;
    const quant::WeightAxes axes = quant::weight_axes(n, w.rank());
    layer.k = w.shape()[static_cast<size_t>(axes.reduction)];
  } else {  // Conv
    layer.layout = calibration::HessianLayout::kConv;
    layer.conv = conv_attrs_of(n);
    layer.weight_shape = w.shape();
    if (w.rank() < 3 || w.rank() > 5) return "Conv weight of rank outside 3..5";
    layer.k = w.numel() / w.shape()[0];
  }
  return {};
}

// Bytes of the Hessians `layer` needs: K x K doubles per group.
size_t hessian_bytes(const calibration::HessianLayer& layer) {
  const int64_t groups = layer.layout == calibration::HessianLayout::kConv && layer.conv.group > 0 ? layer.conv.group : 1;
  return static_cast<size_t>(layer.k * layer.k * groups) * sizeof(double);
}

// GPTQ on one layer from its observer (whose Hessians are freed with it); stores the result in
// `prequantized` when it beats round-to-nearest on the calibration rows.
void gptq_layer_weights(const Candidate& c, calibration::HessianObserver& obs, const quant::WeightQuantOptions& wq,
                        const GptqOptions& options, kernels::ThreadPool& pool, GptqReport& report,
                        std::map<std::string, quant::QuantizedWeight>& prequantized) {
  const std::vector<std::vector<double>> hs = obs.take_hessians();
  const auto start = std::chrono::steady_clock::now();
  const quant::QuantizedWeight rtn = quant::quantize_weight(*c.weight, c.axes.channel, c.axes.reduction, wq);
  quant::QuantizedWeight gq;
  try {
    gq = gptq_quantize_weight(*c.weight, c.axes, hs, wq, options, &pool);
  } catch (const Error& e) {
    report.skipped.emplace_back(c.label, e.what());
    return;
  }
  GptqLayerReport l{c.label, c.node->input(1)->name(), 0, 0};
  l.rtn_error = gptq_relative_error(*c.weight, quant::dequantize_weight(rtn), c.axes, hs, &pool);
  l.gptq_error = gptq_relative_error(*c.weight, quant::dequantize_weight(gq), c.axes, hs, &pool);
  if (l.gptq_error < l.rtn_error) prequantized[l.weight] = std::move(gq);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::debug("gptq: {} (K = {}) relative output error {:.3e} -> {:.3e} in {:.2f} s", c.label, obs.k(), l.rtn_error,
                l.gptq_error, secs);
  report.layers.push_back(std::move(l));
}

}  // namespace

std::string GptqReport::summary() const {
  double rtn = 0, gptq = 0;
  int64_t kept_rtn = 0;
  for (const GptqLayerReport& l : layers) {
    rtn += l.rtn_error;
    gptq += std::min(l.gptq_error, l.rtn_error);
    if (l.gptq_error >= l.rtn_error) ++kept_rtn;
  }
  const double n = layers.empty() ? 1.0 : static_cast<double>(layers.size());
  return fmt::format("gptq: {} layers on {} samples ({} calibration pass{}, Hessians up to {:.1f} MB), mean relative "
                     "output error {:.3e} (round-to-nearest) -> {:.3e}; {} kept round-to-nearest, {} not handled",
                     layers.size(), samples, passes, passes == 1 ? "" : "es", static_cast<double>(hessian_bytes) / 1e6,
                     rtn / n, gptq / n, kept_rtn, skipped.size());
}

GptqReport run_gptq(const ir::Model& model, const GptqTarget& target, const calibration::BatchSource& data,
                    const calibration::CalibrationOptions& calib, const GptqOptions& options,
                    std::map<std::string, quant::QuantizedWeight>& prequantized) {
  const ir::Graph& g = *model.graph;
  GptqReport report;
  std::vector<Candidate> cands;
  std::vector<calibration::HessianLayer> layers;
  for (const ir::Node* n : g.topological_order()) {
    const std::string& op = n->op_type();
    if (!n->domain().empty() || (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul")) continue;
    if (target.exclude_nodes.count(n->name) || target.exclude_ops.count(op)) continue;
    const ir::Tensor* w = quant::float_weight(g, n->input(1));
    if (!w || w->rank() < 2) continue;  // the quantization pass leaves it in float and says why
    if (target.keep_io_float) {
      const bool reads_input = std::any_of(n->inputs().begin(), n->inputs().end(), [&](const ir::Value* v) {
        return v && quant::is_graph_input(g, v) && !v->is_initializer();
      });
      if (reads_input || (n->output(0) && quant::is_graph_output(g, n->output(0)))) continue;
    }
    const std::string label = quant::node_label(g, n);
    calibration::HessianLayer layer;
    layer.node = label;
    const std::string why = gptq_layer(*n, *w, layer);
    if (!why.empty()) {
      report.skipped.emplace_back(label, why);
      continue;
    }
    cands.push_back({n, label, w, quant::weight_axes(*n, w->rank())});
    layers.push_back(std::move(layer));
  }
  if (layers.empty()) return report;
  const quant::WeightQuantOptions& wq = target.weights;
  kernels::ThreadPool pool(calib.threads);
  for (size_t begin = 0; begin < layers.size();) {
    size_t end = begin, bytes = 0;
    for (; end < layers.size(); ++end) {
      const size_t b = hessian_bytes(layers[end]);
      if (end > begin && bytes + b > options.hessian_budget_bytes) break;
      bytes += b;
    }
    const std::vector<calibration::HessianLayer> group(layers.begin() + static_cast<std::ptrdiff_t>(begin),
                                                       layers.begin() + static_cast<std::ptrdiff_t>(end));
    calibration::HessianResult hr = calibration::collect_hessians(model, group, data, calib);
    report.samples = hr.samples;
    report.hessian_bytes = std::max(report.hessian_bytes, hr.state_bytes);
    ++report.passes;
    for (size_t i = begin; i < end; ++i) gptq_layer_weights(cands[i], hr.observers[i - begin], wq, options, pool, report,
                                                             prequantized);
    begin = end;
  }
  return report;
}

}  // namespace scalec::passes
