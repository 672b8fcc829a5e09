// scalec sensitivity MODEL --data VAL.npz [--bits K | --sparsity S]: quantizes (QDQ, K-bit weights
// per channel, int8 activations calibrated once) or magnitude-prunes each layer alone, evaluates
// the model on the data, and ranks the layers by the top-1 accuracy lost (with labels) or, without
// labels, by the SQNR of the chosen output against the float model's: the layers to keep at higher
// precision, or to prune less, come first.
#include <algorithm>
#include <cstdio>
#include <optional>

#include "calibration/calibrator.h"
#include "cli/app_context.h"
#include "cli/html_report.h"
#include "cli/dataset.h"
#include "cli/layer_sensitivity.h"
#include "cli/model_compare.h"
#include "cli/output_set.h"
#include "cli/run_options.h"
#include "ir/error.h"
#include "onnx_io/model_io.h"
#include "passes/prune/magnitude_prune.h"
#include "passes/quantize/qdq_pass.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::cli {

namespace {

struct SensitivityOptions {
  std::string model, data, calib, labels = "labels", output_name, method = "mse", report, html;
  int bits = 8;
  double sparsity = 0;
  int64_t batch = 32, calib_samples = 0;
  SplitOptions split;
  int threads = 0;
  bool full_range = false, no_fold_bn = false;
};

// Calibration on --data when no --calib is given: enough for stable ranges, bounded in time.
constexpr int64_t kDataCalibSamples = 512;

}  // namespace

void add_sensitivity_command(CLI::App& app) {
  auto o = std::make_shared<SensitivityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sensitivity", "Rank layers by the accuracy (or output SQNR) lost when each alone is quantized or pruned");
  add_run_options(cmd);
  cmd->add_option("model", o->model, "ONNX model (float)")->required();
  cmd->add_option("--data", o->data, "Evaluation data (.npz with arrays named after the inputs; labels optional)")->required();
  auto* bits = cmd->add_option("--bits", o->bits, "Quantize each layer alone: weight bits, 2..8 (per channel)")
                   ->check(CLI::Range(2, 8));
  auto* sparsity = cmd->add_option("--sparsity", o->sparsity, "Prune each layer alone instead: L1 magnitude, this fraction")
                       ->check(CLI::Range(0.0, 1.0));
  bits->excludes(sparsity);
  auto* calib = cmd->add_option("--calib", o->calib,
                                "Calibration data for the activation ranges (default: the first 512 samples of --data)");
  auto* calib_samples = cmd->add_option("--calib-samples", o->calib_samples, "Use the first N calibration samples (default: all of --calib, 512 of --data)")
      ->check(CLI::PositiveNumber);
  auto* method = cmd->add_option("--method", o->method, "Activation range: mse, minmax, percentile or entropy")
                     ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  auto* full_range = cmd->add_flag("--full-range", o->full_range, "Full 8-bit weights at --bits 8 (default 7-bit, as quantize)");
  for (auto* opt : {calib, calib_samples, method, full_range}) opt->excludes(sparsity);
  auto* labels = cmd->add_option("--labels", o->labels, "Key of the labels array (integer class indices, shape [N])");
  cmd->add_option("--output", o->output_name, "Model output measured (default: the first)");
  cmd->add_option("--batch", o->batch, "Samples per run (0: all arrays exactly as given, in one run)")
      ->check(CLI::NonNegativeNumber);
  add_split_options(cmd, o->split);
  cmd->add_option("--threads", o->threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-fold-bn", o->no_fold_bn, "Do not fold BatchNormalization into the preceding Conv/Gemm");
  cmd->add_option("--report", o->report, "Write a JSON report to PATH ('-' for stdout)");
  cmd->add_option("--html", o->html, "Write the report as a page with charts (self-contained HTML) to PATH");
  cmd->callback([o, labels, sparsity] {
    const bool prune = sparsity->count() > 0;
    OutputSet files;
    files.input("model", o->model);
    files.input("--data", o->data);
    files.input("--calib", o->calib);
    files.output("--report", o->report);
    files.output("--html", o->html);
    files.check();
    ir::Model model = onnx_io::load_model(o->model);
    files.model_data("model", model);
    canonicalize_for_passes(model);
    if (!prune) passes::quant::check_not_quantized(model);
    prepare_for_inference(model, !o->no_fold_bn);
    name_nodes_uniquely(*model.graph);
    if (!o->output_name.empty() && output_index(model, o->output_name) < 0) {
      throw Error(ExitCode::kUsage, fmt::format("--output '{}' is not an output of the model (it has {})", o->output_name,
                                                output_names(model)));
    }
    const std::string output = o->output_name.empty() ? model.graph->outputs[0]->name() : o->output_name;

    const onnx_io::SampleAxes axes = sample_axes(model, o->batch, o->split);
    Dataset data = load_dataset(model, o->data, o->labels, axes);
    if (data.samples == 0) throw_bad_input("'{}' holds no samples (axis 0 is 0): there is nothing to evaluate", o->data);
    if (labels->count() > 0 && !data.labels) {
      throw_bad_input("'{}' has no '{}' array (--labels): accuracy needs integer labels", o->data, o->labels);
    }
    const int64_t batch = batch_size_for(model, o->batch, data.samples, data.axes);
    const auto ranges = run_ranges(data.samples, batch, data.axes);
    std::vector<ir::Tensor> reference;
    const EvalRun base = evaluate_runs(model, data, ranges, output, o->threads, &reference, nullptr);

    std::vector<LayerScore> results;
    nlohmann::json skipped = nlohmann::json::array();
    nlohmann::json j = report_header("sensitivity", {{"model", o->model}, {"data", o->data}, {"calib", o->calib}});
    j.update({{"samples", data.samples}, {"batch", batch}, {"output_name", output}});
    std::string setup;
    if (prune) {
      passes::MagnitudePruneOptions po;
      po.sparsity = o->sparsity;
      po.prune_first = po.prune_last = true;  // every layer is a candidate here
      const passes::MagnitudePruneResult masks = passes::magnitude_masks(model, po);
      for (const passes::LayerPruneResult& l : masks.layers) {
        auto m = masks.masks.find(l.weight);
        if (!l.note.empty() || m == masks.masks.end()) {
          skipped.push_back({{"layer", l.layer}, {"reason", l.note.empty() ? "no mask" : l.note}});
          continue;
        }
        // The weight is masked in place and restored: no copy of the model per layer.
        ir::Value* w = model.graph->find_value(l.weight);
        const ir::Tensor original = *w->initializer;
        passes::apply_masks(model, {{l.weight, m->second}});
        LayerScore r{l.layer, l.op, l.weight, l.elements, {}};
        r.run = evaluate_runs(model, data, ranges, output, o->threads, nullptr, &reference);
        w->initializer = original;
        results.push_back(std::move(r));
      }
      j["mode"] = "prune";
      j["sparsity"] = o->sparsity;
      setup = fmt::format("each layer alone pruned to {:.0f}% sparsity (L1 magnitude)", 100 * o->sparsity);
    } else {
      passes::QdqOptions q;
      q.weights.bits = o->bits == 8 && !o->full_range ? 7 : o->bits;  // quantize's --reduce-range default
      q.weights.granularity = passes::quant::Granularity::kPerChannel;
      q.weights.symmetric = true;
      // Upgraded once here, not in every layer's copy (the rewrite needs these opsets).
      passes::quant::require_opset(model, o->bits == 4 ? 21 : 13,
                                   o->bits == 4 ? "int4 DequantizeLinear" : "per-channel DequantizeLinear");
      // Ranges of every activation any layer needs, calibrated once on the float model.
      std::optional<DataStream> stream;
      calibration::BatchSource source;
      if (!o->calib.empty()) {
        stream.emplace(model, o->calib, o->labels, axes);
        source.samples = o->calib_samples > 0 ? std::min(o->calib_samples, stream->samples()) : stream->samples();
        if (source.samples == 0) throw_bad_input("--calib '{}' holds no samples", o->calib);
        source.batch = [&stream](int64_t b, int64_t e) { return stream->batch(b, e); };
      } else {
        source.samples = axes.none_split ? data.samples : std::min(o->calib_samples > 0 ? o->calib_samples : kDataCalibSamples, data.samples);
        source.batch = [&data](int64_t b, int64_t e) { return batch_of(data, b, e); };
      }
      calibration::CalibrationOptions co;
      co.method = calibration::parse_method(o->method);
      co.bits = 8;
      co.symmetric = false;
      co.batch = batch_size_for(model, o->batch, source.samples, axes);
      co.threads = o->threads;
      const calibration::CalibrationResult cal = calibration::calibrate(model, passes::qdq_calibration_values(model, q), source, co);
      q.ranges = cal.ranges;
      if (stream) stream->verify();

      results = quantize_each_layer(model, o->model, q, data, ranges, output, o->threads, reference, skipped);
      j["mode"] = "quantize";
      j["bits"] = o->bits;
      j["weight_bits"] = q.weights.bits;
      j["calibration"] = {{"method", o->method}, {"samples", cal.samples}, {"data", o->calib.empty() ? o->data : o->calib}};
      setup = fmt::format("each layer alone quantized: int{} weights per channel, int8 activations ({} ranges on {} samples of {})",
                          q.weights.bits, o->method, cal.samples, o->calib.empty() ? "--data" : "--calib");
    }
    if (results.empty()) throw_bad_input("no layer to {}: the model has no Conv, ConvTranspose, Gemm or MatMul with a float weight",
                                         prune ? "prune" : "quantize");

    const auto n = static_cast<double>(data.samples);
    const double base_acc = static_cast<double>(base.correct) / n;
    rank_layers(results, data.labels.has_value());
    std::string text = fmt::format("reference    float model on {} samples, output '{}'{}\n", data.samples, output,
                                   data.labels ? fmt::format(": top-1 {:.2f}%", 100 * base_acc) : "");
    text += setup + "\n";
    text += fmt::format("{:>4}  {:<40} {:<13} {:>9}  {}{:>11}  {:>9}\n", "rank", "layer", "op", "weights",
                        data.labels ? fmt::format("{:>8}  {:>7}  ", "top-1", "drop") : "", "SQNR", "agreement");
    nlohmann::json jl = nlohmann::json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      const LayerScore& r = results[i];
      nlohmann::json e = {{"rank", i + 1}, {"layer", r.layer}, {"op", r.op}, {"weight", r.weight}, {"params", r.params},
                          {"sqnr_db", r.run.sqnr.json()}};
      std::string acc;
      if (data.labels) {
        const double a = static_cast<double>(r.run.correct) / n;
        e["accuracy"] = a;
        e["accuracy_drop"] = base_acc - a;
        acc = fmt::format("{:>7.2f}%  {:>7.2f}  ", 100 * a, 100 * (base_acc - a));
      }
      std::string agree = "n/a";
      if (r.run.rows > 0) {
        e["agreement"] = static_cast<double>(r.run.agree) / static_cast<double>(r.run.rows);
        agree = fmt::format("{:.2f}%", 100.0 * static_cast<double>(r.run.agree) / static_cast<double>(r.run.rows));
      }
      jl.push_back(e);
      text += fmt::format("{:>4}  {:<40} {:<13} {:>9}  {}{:>11}  {:>9}\n", i + 1, r.layer, r.op, r.params, acc, r.run.sqnr.text(), agree);
    }
    for (const auto& s : skipped) {
      text += fmt::format("not ranked   {}: {}\n", s["layer"].get<std::string>(), s["reason"].get<std::string>());
    }
    if (data.labels) j["accuracy"] = {{"before", base_acc}};  // the float model; per layer under "layers"
    j["layers"] = jl;
    j["not_ranked"] = skipped;
    report_footer(j);
    if (!o->report.empty()) write_report(j, o->report, files.group());
    if (!o->html.empty()) write_html_report(j, o->html, files.group());
    files.commit();
    if (o->report != "-") std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

}  // namespace scalec::cli
