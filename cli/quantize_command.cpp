// scalec quantize: folds BatchNormalization, calibrates activation ranges on --calib data
// (streaming observers), and writes a QDQ model (int8 by default), a QOperator model (QLinearConv,
// QLinearMatMul), a dynamic one (DynamicQuantizeLinear + MatMulInteger, no calibration needed) or a
// weight-only model (blockwise int4/int8 weights + DequantizeLinear). Optional accuracy tools run
// first: cross-layer equalization, GPTQ, then bias correction (with GPTQ's weights where it chose
// them). The summary says how many layers (and how much of the weights) were quantized, and why the
// rest stayed float, one line per reason; a run that quantizes no layer exits 2.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>

#include "calibration/calibrator.h"
#include "cli/app_context.h"
#include "cli/output_set.h"
#include "cli/run_options.h"
#include "cli/dataset.h"
#include "ir/error.h"
#include "ir/model_stats.h"
#include "onnx_io/model_io.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/quantize/bias_correction.h"
#include "passes/quantize/dynamic_pass.h"
#include "passes/quantize/equalize.h"
#include "passes/quantize/gemm_to_matmul.h"
#include "passes/quantize/gptq.h"
#include "passes/quantize/qoperator_pass.h"
#include "passes/quantize/qdq_pass.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/weight_only_pass.h"

namespace scalec::cli {

namespace {

struct QuantizeOptions {
  std::string model, output, calib, labels = "labels", format = "qdq", method = "mse", report;
  int bits = 8;
  double percentile = 99.99;
  int64_t calib_samples = 0, block = 0, batch = 32;
  bool per_tensor = false, per_channel = false, asymmetric = false, symmetric_activations = false;
  bool keep_io_float = false, no_fold_bn = false;
  bool in_place = false;
  bool reduce_range = false, full_range = false, equalize = false;
  bool bias_correction = false, no_bias_correction = false;  // default: on for qdq and qoperator
  std::vector<std::string> exclude_nodes, exclude_ops;
  SplitOptions split;  // how --calib arrays are cut into batches
  int threads = 0;
  bool gptq = false;  // GPTQ weights in any format: --gptq, --act-order, --gptq-damp, --gptq-block
  passes::GptqOptions gptq_options;
  int64_t gptq_memory_mb = 1024;
};

// "a,b" "c" -> {a, b, c}
std::set<std::string> split_list(const std::vector<std::string>& items) {
  std::set<std::string> out;
  for (const std::string& item : items) {
    std::stringstream s(item);
    std::string part;
    while (std::getline(s, part, ',')) {
      if (!part.empty()) out.insert(part);
    }
  }
  return out;
}

nlohmann::json report_nodes(const passes::QuantReport& r) {
  nlohmann::json left = nlohmann::json::array();
  for (const auto& [node, reason] : r.left_float) left.push_back({{"node", node}, {"reason", reason}});
  return {{"quantized_nodes", r.quantized}, {"left_float", left}, {"weights_quantized", r.weights_quantized},
          {"activations_quantized", r.activations_quantized}, {"coverage", r.coverage.to_json()}};
}

// A run that quantized no layer is not a success a pipeline should pass: exit 2 with the reasons.
void check_some_layer_quantized(const passes::QuantReport& r) {
  if (r.coverage.layers_total() == 0) {
    throw_bad_input("nothing to quantize: the model has no Conv, ConvTranspose, Gemm or MatMul layer");
  }
  r.coverage.throw_if_nothing_changed("quantized");
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize weights (k bits) and activations (int8) with calibration");
  add_run_options(cmd);
  cmd->add_option("model", o->model, "ONNX model (float)")->required();
  cmd->add_option("-o", o->output, "Output model")->required();
  cmd->add_flag("--in-place", o->in_place, "Allow -o to be the input model");
  cmd->add_option("--bits", o->bits, "Weight bits, 2..8 (4 and 8 use int4/int8; others the int8 container)");
  cmd->add_option("--format", o->format, "qdq (default), weight-only, qoperator or dynamic")
      ->check(CLI::IsMember({"qdq", "weight-only", "qoperator", "dynamic"}));
  cmd->add_option("--calib", o->calib, "Calibration data (.npz with arrays named after the inputs); needed by qdq");
  cmd->add_option("--labels", o->labels, "Key of a labels array in the calibration data (ignored)");
  cmd->add_option("--method", o->method, "Activation range: mse (default), minmax, percentile or entropy")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  cmd->add_option("--percentile", o->percentile, "percentile method: the percentile kept (e.g. 99.99)");
  cmd->add_option("--calib-samples", o->calib_samples, "Use the first N calibration samples (default: all)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o->batch, "Calibration batch size (default 32; 0: all arrays exactly as given, in one run)")
      ->check(CLI::NonNegativeNumber);
  add_split_options(cmd, o->split);
  auto* pt = cmd->add_flag("--per-tensor", o->per_tensor, "One weight scale per tensor");
  auto* pc = cmd->add_flag("--per-channel", o->per_channel, "One weight scale per output channel (qdq default)");
  auto* bl = cmd->add_option("--block", o->block, "Blockwise weights, N per block along the input axis (weight-only default 32)")
                 ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  pt->excludes(pc)->excludes(bl);
  pc->excludes(bl);
  auto* asym = cmd->add_flag("--asymmetric", o->asymmetric,
                             "Asymmetric weights too, unless per channel (activations are asymmetric by default)");
  cmd->add_flag("--symmetric-activations", o->symmetric_activations,
                "Activations with zero point 0, as TensorRT requires (default: zero point from the calibrated range)")
      ->excludes(asym);
  cmd->add_option("--exclude-nodes", o->exclude_nodes, "Node names to leave in float (comma-separated, repeatable)");
  cmd->add_option("--exclude-ops", o->exclude_ops, "Op types to leave in float (comma-separated, repeatable)");
  cmd->add_flag("--keep-io-float", o->keep_io_float, "Leave nodes that read graph inputs or write graph outputs in float");
  cmd->add_flag("--no-fold-bn", o->no_fold_bn, "Do not fold BatchNormalization into the preceding Conv/Gemm");
  // Formats and accuracy tools (qoperator / dynamic formats above).
  // 7-bit weights by default for integer formats: ONNX Runtime's fused x86 u8s8 kernels (pairs of
  // products summed in 16 bits) saturate with full-range int8 weights and return wrong results
  // (lenet_digits fused in ORT: 92.78% top-1 with 8-bit weights, 98.61% with 7-bit, fp32 98.61%).
  auto* reduce = cmd->add_flag("--reduce-range", o->reduce_range,
                               "7-bit weights in int8 (the default for qdq, qoperator and dynamic at --bits 8)");
  cmd->add_flag("--full-range", o->full_range,
                "Full 8-bit weights [-127, 127] (TensorRT, VNNI CPUs); ONNX Runtime's x86 u8s8 kernels may saturate")
      ->excludes(reduce);
  auto* bias_flag = cmd->add_flag("--bias-correction", o->bias_correction,
                           "Correct Conv/Gemm biases for the mean output shift of weight quantization (needs --calib; "
                           "default for qdq and qoperator)");
  cmd->add_flag("--no-bias-correction", o->no_bias_correction, "Keep the biases as they are")->excludes(bias_flag);
  cmd->add_flag("--equalize", o->equalize, "Cross-layer equalization of Conv -> Relu/Clip -> Conv pairs before quantizing");
  cmd->add_option("--report", o->report, "Write a JSON report to PATH ('-' for stdout)");
  cmd->add_option("--threads", o->threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--gptq", o->gptq, "GPTQ weights (Hessian-based error compensation on --calib data) instead of rounding");
  cmd->add_flag("--act-order", o->gptq_options.act_order, "--gptq: quantize input columns by decreasing Hessian diagonal");
  cmd->add_option("--gptq-damp", o->gptq_options.damp, "--gptq: dampening, fraction of the mean Hessian diagonal (0.01)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--gptq-block", o->gptq_options.block, "--gptq: columns per lazy-update block (128)")->check(CLI::PositiveNumber);
  cmd->add_option("--gptq-memory", o->gptq_memory_mb,
                  "--gptq: MB of layer Hessians held at once (1024); fewer means more calibration passes")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->callback([o] {
    if (o->bits < 2 || o->bits > 8) throw_bad_input("--bits must be in 2..8, got {}", o->bits);
    if (o->gptq && o->calib.empty()) {
      throw Error(ExitCode::kUsage, "--gptq measures layer inputs on calibration data: --calib PATH");
    }
    if (!o->gptq && o->gptq_options.act_order) throw Error(ExitCode::kUsage, "--act-order needs --gptq");
    const bool qdq = o->format == "qdq";
    const bool qoperator = o->format == "qoperator", dynamic = o->format == "dynamic";
    const bool static_acts = qdq || qoperator;  // activation scales from calibration
    if (static_acts && o->calib.empty()) {
      throw Error(ExitCode::kUsage, fmt::format("--format {} needs calibration data: --calib PATH", o->format));
    }
    const bool bias_correction = o->bias_correction || (static_acts && !o->no_bias_correction);
    if (bias_correction && o->calib.empty()) {
      throw Error(ExitCode::kUsage, "--bias-correction measures input means on calibration data: --calib PATH");
    }
    if ((qoperator || dynamic) && o->block > 0) {
      throw Error(ExitCode::kUsage, fmt::format("--format {} takes per-tensor or per-channel weights, not --block", o->format));
    }
    OutputSet files;
    files.allow_in_place(o->in_place);
    files.input("model", o->model);
    files.input("--calib", o->calib);
    files.output("-o", o->output);
    files.output("--report", o->report);
    files.check();
    ir::Model model = onnx_io::load_model(o->model);
    files.model_data("model", model);
    canonicalize_for_passes(model);
    passes::quant::check_not_quantized(model);

    passes::quant::WeightQuantOptions w;
    const bool weight_only = o->format == "weight-only";
    const bool reduce_range = !weight_only && !o->full_range;  // weight-only dequantizes to float: no integer kernel
    w.bits = reduce_range && o->bits == 8 ? 7 : o->bits;
    w.symmetric = !o->asymmetric;
    w.granularity = weight_only ? passes::quant::Granularity::kBlock : passes::quant::Granularity::kPerChannel;
    w.block_size = weight_only ? 32 : 0;
    if (o->per_tensor) w.granularity = passes::quant::Granularity::kPerTensor;
    if (o->per_channel) w.granularity = passes::quant::Granularity::kPerChannel;
    if (o->block > 0) {
      w.granularity = passes::quant::Granularity::kBlock;
      w.block_size = o->block;
    }
    if (w.granularity != passes::quant::Granularity::kBlock) w.block_size = 0;
    // ONNX Runtime's QLinearConv needs one zero point for all channels of a per-channel weight.
    if (w.granularity == passes::quant::Granularity::kPerChannel) w.symmetric = true;
    if (dynamic) w.symmetric = true;  // MatMulInteger with a zero weight zero point, as quantize_dynamic writes

    nlohmann::json j = {{"schema_version", kReportSchemaVersion}, {"model", o->model}, {"output", o->output},
                        {"format", o->format}, {"bits", o->bits}, {"symmetric", w.symmetric},
                        {"block_size", w.block_size}, {"weight_bits", w.bits}, {"reduce_range", reduce_range && o->bits == 8},
                        {"bias_correction", bias_correction}};
    if (static_acts) j["activations"] = o->symmetric_activations ? "int8 symmetric" : "int8 asymmetric";
    j["granularity"] = w.granularity == passes::quant::Granularity::kBlock        ? "block"
                       : w.granularity == passes::quant::Granularity::kPerChannel ? "per-channel"
                                                                                  : "per-tensor";
    const ir::ModelStats before = ir::compute_model_stats(*model.graph);
    std::vector<std::string> lines, steps;
    if (!o->no_fold_bn) {
      passes::FoldBatchNorm fold;
      lines.push_back(fold.run(model));
      steps.push_back(fold.name());
    }
    std::optional<DataStream> data;  // read a batch at a time: memory does not grow with the samples
    int64_t samples = 0;
    const onnx_io::SampleAxes axes = sample_axes(model, o->batch, o->split);
    if (axes.none_split && o->calib_samples > 0) {
      throw Error(ExitCode::kUsage, "--calib-samples takes the first N samples, but --batch 0 splits nothing: drop one");
    }
    if (!o->calib.empty()) {
      data.emplace(model, o->calib, o->labels, axes);
      samples = o->calib_samples > 0 ? std::min(o->calib_samples, data->samples()) : data->samples();
      if (samples == 0) throw_bad_input("--calib '{}' holds no samples", o->calib);
    }
    calibration::BatchSource source{samples, [&data](int64_t b, int64_t e) { return data->batch(b, e); }};
    if (o->equalize) {
      passes::CrossLayerEqualization eq(split_list(o->exclude_nodes));
      lines.push_back(eq.run(model));
      steps.push_back(eq.name());
    }
    // Before GPTQ and bias correction, so that they see (and store) the MatMul weights the
    // integer passes quantize.
    if (qoperator || dynamic) {
      passes::GemmToMatMul g2m(split_list(o->exclude_nodes), split_list(o->exclude_ops), o->keep_io_float);
      lines.push_back(g2m.run(model));
      steps.push_back(g2m.name());
    }
    std::map<std::string, passes::quant::QuantizedWeight> gptq_weights;
    if (o->gptq) {
      const passes::GptqTarget target{w, split_list(o->exclude_nodes), split_list(o->exclude_ops), o->keep_io_float};
      o->gptq_options.hessian_budget_bytes = static_cast<size_t>(o->gptq_memory_mb) * 1000 * 1000;
      calibration::CalibrationOptions co;
      co.batch = batch_size_for(model, o->batch, samples, axes);
      co.threads = o->threads;
      const passes::GptqReport gr = passes::run_gptq(model, target, source, co, o->gptq_options, gptq_weights);
      lines.push_back(gr.summary());
      steps.push_back(fmt::format("gptq<damp={},block={},act_order={}>", o->gptq_options.damp, o->gptq_options.block,
                                  o->gptq_options.act_order));
      nlohmann::json layers = nlohmann::json::array(), skipped = nlohmann::json::array();
      for (const auto& l : gr.layers) {
        layers.push_back({{"node", l.node}, {"weight", l.weight}, {"rtn_error", l.rtn_error}, {"gptq_error", l.gptq_error}});
      }
      for (const auto& [node, why] : gr.skipped) skipped.push_back({{"node", node}, {"reason", why}});
      j["gptq"] = {{"samples", gr.samples}, {"hessian_bytes", gr.hessian_bytes}, {"calibration_passes", gr.passes},
                   {"layers", layers}, {"round_to_nearest", skipped}};
    }
    if (bias_correction) {
      passes::BiasCorrectionOptions bc;
      bc.prequantized = gptq_weights;
      bc.weights = w;
      bc.exclude_nodes = split_list(o->exclude_nodes);
      bc.exclude_ops = split_list(o->exclude_ops);
      bc.keep_io_float = o->keep_io_float;
      bc.means = passes::channel_means(model, passes::bias_correction_inputs(model, bc), source,
                                       batch_size_for(model, o->batch, samples, axes), o->threads);
      passes::BiasCorrection pass(bc);
      lines.push_back(pass.run(model));
      steps.push_back(pass.name());
    }
    passes::QuantReport rep;
    if (static_acts || dynamic) {
      passes::QdqOptions q;
      q.weights = w;
      q.activation_symmetric = o->symmetric_activations;
      q.exclude_nodes = split_list(o->exclude_nodes);
      q.exclude_ops = split_list(o->exclude_ops);
      q.keep_io_float = o->keep_io_float;
      q.prequantized = std::move(gptq_weights);
      if (static_acts) {
        calibration::CalibrationOptions co;
        co.method = calibration::parse_method(o->method);
        co.percentile = o->percentile;
        co.bits = 8;
        co.symmetric = q.activation_symmetric;
        co.batch = batch_size_for(model, o->batch, samples, axes);
        co.threads = o->threads;
        const std::vector<std::string> names =
            qdq ? passes::qdq_calibration_values(model, q) : passes::qoperator_calibration_values(model, q);
        calibration::CalibrationResult cal = calibration::calibrate(model, names, source, co);
        q.ranges = cal.ranges;
        j["calibration"] = {{"method", o->method}, {"samples", cal.samples}, {"values", names.size()},
                            {"observer_bytes", cal.observer_bytes}, {"peak_activation_bytes", cal.peak_activation_bytes}};
        if (co.method == calibration::Method::kPercentile) j["calibration"]["percentile"] = o->percentile;
      }
      auto run_pass = [&](auto pass, const std::string& step) {
        lines.push_back(pass.run(model));
        steps.push_back(step);
        rep = pass.report();
      };
      if (qdq) run_pass(passes::QuantizeQdq(q), fmt::format("quantize-qdq<bits={},method={}>", w.bits, o->method));
      if (qoperator) {
        run_pass(passes::QuantizeQOperator(q), fmt::format("quantize-qoperator<bits={},method={}>", w.bits, o->method));
      }
      if (dynamic) run_pass(passes::QuantizeDynamic(q), fmt::format("quantize-dynamic<bits={}>", w.bits));
    } else {
      passes::WeightOnlyOptions wo;
      wo.weights = w;
      wo.exclude_nodes = split_list(o->exclude_nodes);
      wo.exclude_ops = split_list(o->exclude_ops);
      wo.keep_io_float = o->keep_io_float;
      wo.prequantized = std::move(gptq_weights);
      passes::QuantizeWeightOnly pass(wo);
      lines.push_back(pass.run(model));
      steps.push_back(fmt::format("quantize-weight-only<bits={},block={}>", o->bits, w.block_size));
      rep = pass.report();
    }
    check_some_layer_quantized(rep);
    if (data) data->verify();  // a corrupt member is refused before the output exists
    for (const std::string& step : steps) record_provenance(model, step);
    onnx_io::SaveOptions save;
    save.commit_group = files.group();
    onnx_io::save_model(model, o->output, save);
    const ir::ModelStats after = ir::compute_model_stats(*model.graph);
    j.update(report_nodes(rep));
    j["passes"] = lines;
    j["opset"] = model.opset_version();
    j["bytes_before"] = before.bytes;
    j["bytes_after"] = after.bytes;
    j["peak_rss_bytes"] = peak_rss_bytes();
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    for (const std::string& line : rep.coverage.reason_lines()) text += "  left in float: " + line + "\n";
    text += fmt::format("size         {:.1f} KB -> {:.1f} KB\nwrote        {}\n", static_cast<double>(before.bytes) / 1e3,
                        static_cast<double>(after.bytes) / 1e3, o->output);
    if (!o->report.empty()) write_report(j, o->report, files.group());
    files.commit();
    if (o->report != "-") std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

}  // namespace scalec::cli
