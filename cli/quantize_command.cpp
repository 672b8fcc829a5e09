// scalec quantize: folds BatchNormalization, calibrates activation ranges on --calib data
// (streaming observers), and writes a QDQ model (int8 by default), a QOperator model (QLinearConv,
// QLinearMatMul), a dynamic one (DynamicQuantizeLinear + MatMulInteger, no calibration needed) or a
// weight-only model (blockwise int4/int8 weights + DequantizeLinear). Without --calib the default
// is dynamic MatMul/Gemm with weight-only Conv (8 bits) or weight-only (fewer bits). Optional
// accuracy tools run first: cross-layer equalization, GPTQ, then bias correction. The stage expands
// into registered passes (passes/quantize/quantize_pipeline.h). The summary says how many layers
// (and how much of the weights) were quantized, and why the rest stayed float, one line per reason;
// a run that quantizes no layer exits 2. --target-drop P chooses per-layer bits (cli/mixed_precision.h).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/dataset.h"
#include "cli/progress.h"
#include "cli/qat_stage.h"
#include "cli/mixed_precision_stage.h"
#include "cli/stage.h"
#include "cli/stage_command.h"
#include "ir/error.h"
#include "ir/model_stats.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/quantize_pipeline.h"

namespace scalec::cli {

namespace {

struct QuantizeOptions {
  std::string calib, val, labels = "labels", output_name, format = "auto", method = "mse";
  int bits = 8;
  double percentile = 99.99;
  int64_t calib_samples = 0, block = 0, batch = 32;
  bool per_tensor = false, per_channel = false, asymmetric = false, symmetric_activations = false;
  bool keep_io_float = false, no_fold_bn = false;
  bool reduce_range = false, full_range = false, equalize = false;
  bool bias_correction = false, no_bias_correction = false;  // default: on for qdq and qoperator
  std::vector<std::string> exclude_nodes, exclude_ops;
  SplitOptions split;  // how --calib arrays are cut into batches
  int threads = 0;
  bool gptq = false;  // GPTQ weights in any format: --gptq, --act-order, --gptq-damp, --gptq-block
  passes::GptqOptions gptq_options;
  int64_t gptq_memory_mb = 1024;
  std::optional<double> target_drop;  // mixed precision (cli/mixed_precision.h)
  QatOptions qat;                     // --qat (cli/qat_stage.h)
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
    throw_bad_input("nothing to quantize: the model has no Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU or RNN layer");
  }
  r.coverage.throw_if_nothing_changed("quantized");
}

class QuantizeStage final : public Stage {
 public:
  /// `qat`: the `qat` stage of scalec run, quantize with --qat on and the pipeline's training data.
  explicit QuantizeStage(bool qat = false) : qat_stage_(qat) { o_.qat.enabled = qat; }
  std::string name() const override { return qat_stage_ ? "qat" : "quantize"; }
  std::string output_tag() const override {
    return o_.format == "fp16" || o_.format == "bf16" ? o_.format : fmt::format("int{}", o_.bits);
  }

  void add_options(CLI::App* cmd) override {
    QuantizeOptions& o = o_;
    cmd->add_option("--bits", o.bits, "Weight bits, 2..8 (4 and 8 use int4/int8; others the int8 container)");
    cmd->add_option("--format", o.format,
                    "auto (qdq with --calib; without: dynamic MatMul/Gemm + weight-only Conv at 8 bits, weight-only "
                    "below), qdq, weight-only, qoperator, dynamic, fp16 (half-precision weights and compute) or bf16 "
                    "(bfloat16 weights, float32 compute)")
        ->check(CLI::IsMember({"auto", "qdq", "weight-only", "qoperator", "dynamic", "fp16", "bf16"}));
    cmd->add_option("--calib", o.calib, "Calibration data (.npz with arrays named after the inputs); needed by qdq");
    cmd->add_option("--val", o.val, "Validation data, for --target-drop and --max-accuracy-drop (without labels: top-1 "
                                    "agreement with the input model)");
    cmd->add_option("--target-drop", o.target_drop,
                    "Mixed precision: keep the most sensitive layers at 8 bits, then float, until the top-1 drop on --val "
                    "is within P points (qdq, qoperator; exit 3 with the best assignment when none is)");
    cmd->add_option("--labels", o.labels, "Key of the labels array (in --val; ignored in --calib)");
    cmd->add_option("--output", o.output_name, "Model output holding the logits, for --max-accuracy-drop (default: the first)");
    cmd->add_option("--method", o.method, "Activation range: mse (default), minmax, percentile or entropy")
        ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
    cmd->add_option("--percentile", o.percentile, "percentile method: the percentile kept (e.g. 99.99)");
    cmd->add_option("--calib-samples", o.calib_samples, "Use the first N calibration samples (default: all)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--batch", o.batch,
                    "Calibration batch size (default 32; 0: all arrays exactly as given, in one run); with --qat the training batch")
        ->check(CLI::NonNegativeNumber);
    add_split_options(cmd, o.split);
    auto* pt = cmd->add_flag("--per-tensor", o.per_tensor, "One weight scale per tensor");
    auto* pc = cmd->add_flag("--per-channel", o.per_channel, "One weight scale per output channel (qdq default)");
    auto* bl = cmd->add_option("--block", o.block, "Blockwise weights, N per block along the input axis (weight-only default 32)")
                   ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
    pt->excludes(pc)->excludes(bl);
    pc->excludes(bl);
    auto* asym = cmd->add_flag("--asymmetric", o.asymmetric,
                               "Asymmetric weights too, unless per channel (activations are asymmetric by default)");
    cmd->add_flag("--symmetric-activations", o.symmetric_activations,
                  "Activations with zero point 0, as TensorRT requires (default: zero point from the calibrated range)")
        ->excludes(asym);
    cmd->add_option("--exclude-nodes", o.exclude_nodes, "Node names to leave in float (comma-separated, repeatable)");
    cmd->add_option("--exclude-ops", o.exclude_ops, "Op types to leave in float (comma-separated, repeatable)");
    cmd->add_flag("--keep-io-float", o.keep_io_float, "Leave nodes that read graph inputs or write graph outputs in float");
    cmd->add_flag("--no-fold-bn", o.no_fold_bn, "Do not fold BatchNormalization into the preceding Conv/Gemm");
    // 7-bit weights by default for integer formats: ONNX Runtime's fused x86 u8s8 kernels (pairs of
    // products summed in 16 bits) saturate with full-range int8 weights and return wrong results
    // (lenet_digits fused in ORT: 92.78% top-1 with 8-bit weights, 98.61% with 7-bit, fp32 98.61%).
    auto* reduce = cmd->add_flag("--reduce-range", o.reduce_range,
                                 "7-bit weights in int8 (the default for qdq, qoperator and dynamic at --bits 8)");
    cmd->add_flag("--full-range", o.full_range,
                  "Full 8-bit weights [-127, 127] (TensorRT, VNNI CPUs); ONNX Runtime's x86 u8s8 kernels may saturate")
        ->excludes(reduce);
    auto* bias_flag = cmd->add_flag("--bias-correction", o.bias_correction,
                                    "Correct Conv/Gemm biases for the mean output shift of weight quantization (needs "
                                    "--calib; default for qdq and qoperator)");
    cmd->add_flag("--no-bias-correction", o.no_bias_correction, "Keep the biases as they are")->excludes(bias_flag);
    cmd->add_flag("--equalize", o.equalize, "Cross-layer equalization of Conv -> Relu/Clip -> Conv pairs before quantizing");
    cmd->add_option("--threads", o.threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
    cmd->add_flag("--gptq", o.gptq, "GPTQ weights (Hessian-based error compensation on --calib data) instead of rounding");
    cmd->add_flag("--act-order", o.gptq_options.act_order, "--gptq: quantize input columns by decreasing Hessian diagonal");
    cmd->add_option("--gptq-damp", o.gptq_options.damp, "--gptq: dampening, fraction of the mean Hessian diagonal (0.01)")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--gptq-block", o.gptq_options.block, "--gptq: columns per lazy-update block (128)")->check(CLI::PositiveNumber);
    cmd->add_option("--gptq-memory", o.gptq_memory_mb,
                    "--gptq: MB of layer Hessians held at once (1024); fewer means more calibration passes")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
    add_qat_options(cmd, o.qat);
  }

  void check() const override {
    check_qat_options(o_.qat, settings(), o_.target_drop.has_value(), o_.gptq, o_.batch);
    if (o_.qat.enabled) return;
    passes::PassManager pm;
    passes::build_quantize_pipeline(settings(), !o_.calib.empty(), pm);  // refuses conflicting options
    if (o_.target_drop) check_target_drop_options(settings(), o_.calib, o_.val);
  }

  std::vector<std::pair<std::string, std::string>> inputs() const override {
    return {{"--calib", o_.calib}, {"--val", o_.val}, {"--data", o_.qat.data}};
  }

  void set_data(const std::string& train, const std::string& val, const std::string& calib, const std::string& labels) override {
    if (o_.qat.enabled && o_.qat.data.empty()) o_.qat.data = train;  // --qat trains on the pipeline's training data
    if (o_.calib.empty()) o_.calib = calib;
    if (o_.val.empty()) o_.val = val;
    if (!labels.empty()) o_.labels = labels;
  }

  std::string pipeline_text() const override {
    if (o_.qat.enabled) return qat_pipeline_text(o_.qat, settings(), o_.batch);
    passes::PassManager pm;
    passes::build_quantize_pipeline(settings(), !o_.calib.empty(), pm);
    return pm.pipeline_text();
  }

  EvalSpec eval_spec() const override { return {o_.val, o_.labels, o_.output_name, 32, o_.threads}; }
  bool output_runs_in_scalec() const override { return o_.format != "fp16"; }  // no float16 Conv/Gemm kernels

  StageResult run(ir::Model& model, const ir::Model& original) override {
    if (o_.qat.enabled) return run_qat_stage(model, original);
    passes::quant::check_not_quantized(model);
    const passes::QuantizeSettings s = settings();
    const std::string format = passes::resolved_format(s, !o_.calib.empty());
    if (s.format == "auto" && o_.calib.empty()) {
      spdlog::warn("no --calib: {}", o_.bits == 8 ? "MatMul/Gemm quantized dynamically (activations at run time), Conv "
                                                     "weights only (int8); --calib DATA gives static int8 activations"
                                                   : "weights only; --calib DATA gives static int8 activations");
    }
    const ir::ModelStats before = ir::compute_model_stats(*model.graph);
    std::optional<DataStream> data;  // read a batch at a time: memory does not grow with the samples
    int64_t samples = 0;
    const onnx_io::SampleAxes axes = sample_axes(model, o_.batch, o_.split);
    if (axes.none_split && o_.calib_samples > 0) {
      throw Error(ExitCode::kUsage, "--calib-samples takes the first N samples, but --batch 0 splits nothing: drop one");
    }
    if (!o_.calib.empty()) {
      data.emplace(model, o_.calib, o_.labels, axes);
      samples = o_.calib_samples > 0 ? std::min(o_.calib_samples, data->samples()) : data->samples();
      if (samples == 0) throw_bad_input("--calib '{}' holds no samples", o_.calib);
    }
    passes::PassContext ctx;
    ProgressBar bar("calibrating", samples);  // every pass over the data (GPTQ groups, bias means, ranges)
    ctx.calib = {samples, [&data, &bar](int64_t b, int64_t e) {
                   bar.set(e);
                   return data->batch(b, e);
                 }};
    ctx.calib_batch = batch_size_for(model, o_.batch, samples, axes);
    ctx.threads = o_.threads;
    ctx.verify_each = verify_each;
    passes::QuantizeSettings chosen = s;
    std::optional<MixedPrecisionOutcome> mixed;
    if (o_.target_drop) {
      const MixedPrecisionSetup mp{s, *o_.target_drop, eval_spec(), ctx, input_file};
      mixed = choose_layer_bits(model, original, mp);
      chosen = mixed->settings;
    }
    passes::PassManager pm;
    passes::build_quantize_pipeline(chosen, !o_.calib.empty(), pm);
    const std::vector<passes::PassRun> runs = pm.run(model, ctx);
    const passes::QuantReport& rep = ctx.state<passes::QuantizeState>().report;
    const bool half = format == "fp16" || format == "bf16";  // a conversion: no layer coverage to check
    if (!half) check_some_layer_quantized(rep);
    if (data) data->verify();  // a corrupt member is refused before the output exists

    StageResult r;
    nlohmann::json& j = r.report;
    j = ctx.report;
    j["format"] = format;
    j["bits"] = o_.bits;
    j.update(passes::quantize_weights_json(s, !o_.calib.empty()));
    j["bias_correction"] = s.bias_correction == 1 || ((format == "qdq" || format == "qoperator") && s.bias_correction != 0);
    if (format == "qdq" || format == "qoperator") {
      j["activations"] = o_.symmetric_activations ? "int8 symmetric" : "int8 asymmetric";
    }
    j.update(report_nodes(rep));
    nlohmann::json lines = nlohmann::json::array(), timings = nlohmann::json::array();
    for (const passes::PassRun& run : runs) {
      r.steps.push_back(run.text);
      lines.push_back(run.summary);
      timings.push_back({{"pass", run.text}, {"seconds", run.seconds}});
      r.text += run.summary + "\n";
    }
    j["passes"] = lines;
    j["pass_timings"] = timings;
    j["opset"] = model.opset_version();
    const ir::ModelStats after = ir::compute_model_stats(*model.graph);
    j["bytes_before"] = before.bytes;
    j["bytes_after"] = after.bytes;
    j["peak_rss_bytes"] = peak_rss_bytes();
    for (const std::string& line : rep.coverage.reason_lines()) r.text += "  left in float: " + line + "\n";
    r.text += fmt::format("size         {:.1f} KB -> {:.1f} KB\n", static_cast<double>(before.bytes) / 1e3,
                          static_cast<double>(after.bytes) / 1e3);
    if (mixed) add_mixed_precision(*mixed, rep.quantized, r);
    return r;
  }

 private:
  // quantize --qat: trains fake-quantized, reports like a qdq run plus the training's "qat" section.
  StageResult run_qat_stage(ir::Model& model, const ir::Model& original) {
    const passes::QuantizeSettings s = settings();
    const QatInputs in{o_.calib, o_.val, o_.labels, o_.output_name, o_.batch, o_.calib_samples, o_.threads};
    passes::QuantReport rep;
    StageResult r = run_qat(model, original, o_.qat, s, in, quiet_epochs, rep);
    nlohmann::json& j = r.report;
    j["format"] = "qdq";
    j["bits"] = o_.bits;
    j.update(passes::quantize_weights_json(s, true));
    j["bias_correction"] = false;
    j["activations"] = o_.symmetric_activations ? "int8 symmetric" : "int8 asymmetric";
    j.update(report_nodes(rep));
    j["opset"] = model.opset_version();
    for (const std::string& line : rep.coverage.reason_lines()) r.text += "  left in float: " + line + "\n";
    return r;
  }

  passes::QuantizeSettings settings() const {
    passes::QuantizeSettings s;
    s.format = o_.format;
    s.bits = o_.bits;
    s.method = o_.method;
    s.percentile = o_.percentile;
    if (o_.per_tensor) s.granularity = "per-tensor";
    if (o_.per_channel) s.granularity = "per-channel";
    s.block = o_.block;
    s.asymmetric = o_.asymmetric;
    s.symmetric_activations = o_.symmetric_activations;
    s.keep_io_float = o_.keep_io_float;
    s.fold_bn = !o_.no_fold_bn;
    s.full_range = o_.full_range;
    s.equalize = o_.equalize;
    s.bias_correction = o_.bias_correction ? 1 : o_.no_bias_correction ? 0 : -1;
    s.gptq = o_.gptq;
    s.gptq_options = o_.gptq_options;
    s.gptq_options.hessian_budget_bytes = static_cast<size_t>(o_.gptq_memory_mb) * 1000 * 1000;
    s.exclude_nodes = split_list(o_.exclude_nodes);
    s.exclude_ops = split_list(o_.exclude_ops);
    return s;
  }

  QuantizeOptions o_;
  bool qat_stage_ = false;
};

}  // namespace

std::unique_ptr<Stage> make_quantize_stage() { return std::make_unique<QuantizeStage>(); }
std::unique_ptr<Stage> make_qat_stage() { return std::make_unique<QuantizeStage>(true); }

void add_quantize_command(CLI::App& app) {
  add_stage_command(app, make_quantize_stage(), "Quantize weights (k bits) and activations (int8) with calibration");
}

}  // namespace scalec::cli
