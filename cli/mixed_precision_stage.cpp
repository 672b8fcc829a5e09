#include "cli/mixed_precision_stage.h"

#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "calibration/calibrator.h"
#include "cli/dataset.h"
#include "cli/layer_sensitivity.h"
#include "cli/top1_drop.h"
#include "ir/error.h"
#include "onnx_io/model_io.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/quant_layers.h"

namespace scalec::cli {

namespace {

// Layer names the search can address: every Conv/ConvTranspose/Gemm/MatMul named, once.
bool layers_named_uniquely(const ir::Graph& g) {
  std::set<std::string> names;
  for (const auto& n : g.nodes()) {
    if (passes::quant::is_layer_op(*n) && (n->name.empty() || !names.insert(n->name).second)) return false;
  }
  return true;
}

// The layers ranked as `scalec sensitivity --bits K` ranks them, on --val.
std::vector<std::string> rank_layers_on_val(const std::string& bytes, const MixedPrecisionSetup& in) {
  const passes::QuantizeSettings& s = in.settings;
  ir::Model model = onnx_io::load_model_from_bytes(bytes, ".", in.source);
  if (s.fold_bn) spdlog::debug("{}", passes::FoldBatchNorm().run(model));
  passes::QdqOptions q;
  q.weights.bits = s.bits == 8 && !s.full_range ? 7 : s.bits;
  q.weights.granularity = passes::quant::Granularity::kPerChannel;
  q.weights.symmetric = true;
  q.activation_symmetric = s.symmetric_activations;
  q.exclude_nodes = s.exclude_nodes;
  q.exclude_ops = s.exclude_ops;
  q.keep_io_float = s.keep_io_float;
  passes::quant::require_opset(model, s.bits == 4 ? 21 : 13, s.bits == 4 ? "int4 DequantizeLinear" : "per-channel DequantizeLinear");
  calibration::CalibrationOptions co;
  co.method = calibration::parse_method(s.method);
  co.percentile = s.percentile;
  co.bits = 8;
  co.symmetric = s.symmetric_activations;
  co.batch = in.context.calib_batch;
  co.threads = in.context.threads;
  q.ranges = calibration::calibrate(model, passes::qdq_calibration_values(model, q), in.context.calib, co).ranges;

  const Dataset data = load_dataset(model, in.eval.val, in.eval.labels);
  const std::string output = in.eval.output.empty() ? model.graph->outputs[0]->name() : in.eval.output;
  const auto ranges = run_ranges(data.samples, batch_size_for(model, in.eval.batch, data.samples), data.axes);
  std::vector<ir::Tensor> reference;
  evaluate_runs(model, data, ranges, output, in.eval.threads, &reference, nullptr);
  nlohmann::json skipped = nlohmann::json::array();
  std::vector<LayerScore> scores =
      quantize_each_layer(model, in.source, q, data, ranges, output, in.eval.threads, reference, skipped);
  rank_layers(scores, data.labels.has_value());
  std::vector<std::string> ranked;
  for (const LayerScore& l : scores) {
    spdlog::info("mixed precision: rank {} {} (alone at {} bits: SQNR {})", ranked.size() + 1, l.layer, s.bits, l.run.sqnr.text());
    ranked.push_back(l.layer);
  }
  return ranked;
}

// The command's settings with `promoted` applied: 8-bit layers in layer_bits, float ones excluded.
passes::QuantizeSettings with_promotions(passes::QuantizeSettings s, const LayerBits& promoted) {
  for (const auto& [node, bits] : promoted) {
    if (bits == kFloatBits) s.exclude_nodes.insert(node);
    else s.layer_bits[node] = bits;
  }
  return s;
}

}  // namespace

void check_target_drop_options(const passes::QuantizeSettings& s, const std::string& calib, const std::string& val) {
  const std::string format = passes::resolved_format(s, !calib.empty());
  if (format != "qdq" && format != "qoperator") {
    throw Error(ExitCode::kUsage, fmt::format("--target-drop keeps layers at higher precision in the qdq and qoperator formats "
                                              "(with --calib), not {}", format));
  }
  if (val.empty()) throw Error(ExitCode::kUsage, "--target-drop measures the top-1 drop on validation data: --val PATH");
  if (s.gptq) throw Error(ExitCode::kUsage, "--target-drop with --gptq is not supported (GPTQ quantizes every layer at --bits)");
  if (!s.layer_bits.empty()) throw_internal("per-layer bits set before the search");
}

MixedPrecisionOutcome choose_layer_bits(ir::Model& model, const ir::Model& original, const MixedPrecisionSetup& in) {
  if (!layers_named_uniquely(*model.graph)) {
    spdlog::info("mixed precision: nodes renamed so that every layer has a name of its own (the output keeps them)");
    name_nodes_uniquely(*model.graph);
  }
  const std::string bytes = onnx_io::serialize_model(model);
  const Top1DropMeter meter(original, in.eval);
  MixedPrecisionOutcome out;
  for (const auto& n : model.graph->nodes()) {
    if (passes::quant::is_layer_op(*n)) out.layers.insert(n->name);
  }
  out.target = in.target;
  out.measure = meter.measure();
  out.accuracy_before = meter.reference_accuracy();
  std::map<LayerBits, Top1Drop> figures;
  auto drop = [&](const LayerBits& promoted) {
    ir::Model m = onnx_io::load_model_from_bytes(bytes, ".", in.source);
    passes::PassContext ctx;
    ctx.calib = in.context.calib;
    ctx.calib_batch = in.context.calib_batch;
    ctx.threads = in.context.threads;
    ctx.verify_each = in.context.verify_each;
    passes::PassManager pm;
    passes::build_quantize_pipeline(with_promotions(in.settings, promoted), true, pm);
    pm.run(m, ctx);
    const Top1Drop d = meter.measure(m);
    figures[promoted] = d;
    std::string what;
    for (const auto& [node, bits] : promoted) what += fmt::format("{}{}={}", what.empty() ? "" : ",", node, layer_bits_name(bits));
    spdlog::info("mixed precision: {} -> drop {:.2f} points ({})", what.empty() ? fmt::format("all at {} bits", in.settings.bits) : what,
                 d.drop, out.measure);
    return d.drop;
  };
  out.result = search_mixed_precision(in.settings.bits, in.target, [&] { return rank_layers_on_val(bytes, in); }, drop);
  out.settings = with_promotions(in.settings, out.result.promoted);
  out.accuracy_after = figures.at(out.result.promoted).accuracy;
  return out;
}

void add_mixed_precision(const MixedPrecisionOutcome& m, const std::vector<std::string>& quantized, StageResult& r) {
  const MixedPrecisionResult& res = m.result;
  // Every layer the search could set: ranked ones in rank order, else the ones the run quantized.
  std::vector<std::string> order = res.ranked;
  if (order.empty()) {
    for (const std::string& q : quantized) {
      if (m.layers.count(q)) order.push_back(q);
    }
  }
  nlohmann::json layers = nlohmann::json::array();
  std::string lines;
  for (const std::string& node : order) {
    auto p = res.promoted.find(node);
    const int bits = p == res.promoted.end() ? m.settings.bits : p->second;
    layers.push_back({{"node", node}, {"bits", bits == kFloatBits ? nlohmann::json("float") : nlohmann::json(bits)}});
    lines += fmt::format("  {:<40} {}\n", node, layer_bits_name(bits));
  }
  r.report["mixed_precision"] = {{"target_drop", m.target}, {"measured_drop", res.drop}, {"measure", m.measure},
                                 {"reached", res.reached}, {"layers", layers}, {"evaluations", res.evaluations},
                                 {"promotions", res.promotions}, {"trace", res.trace}};
  r.text += fmt::format("mixed precision: top-1 drop {:.2f} points ({}) {} target {:.2f}, {} promotion{}, {} evaluation{}\n",
                        res.drop, m.measure == "agreement" ? "agreement lost, no labels" : "accuracy",
                        res.reached ? "within" : "MISSES", m.target, res.promotions, res.promotions == 1 ? "" : "s",
                        res.evaluations, res.evaluations == 1 ? "" : "s");
  r.text += lines;
  if (m.accuracy_before && m.accuracy_after) {
    r.accuracy_before = m.accuracy_before;
    r.accuracy_after = m.accuracy_after;
  }
  if (!res.reached) {
    r.target_missed = fmt::format("--target-drop {:.2f}: no assignment with a quantized layer is within it; the best "
                                  "measured ({:.2f} points) was written", m.target, res.drop);
  }
}

}  // namespace scalec::cli
