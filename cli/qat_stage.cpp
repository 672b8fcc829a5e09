#include "cli/qat_stage.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <spdlog/spdlog.h>

#include "calibration/calibrator.h"
#include "cli/dataset.h"
#include "cli/training_cli.h"
#include "distill/qat_ranges.h"
#include "ir/error.h"
#include "passes/core/pass_text.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/quantize/fake_quant_bn.h"
#include "passes/quantize/fake_quant_graph.h"
#include "passes/quantize/qdq_plan.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::cli {

namespace {

// Calibration without --calib: the first samples of --data (the 512).
constexpr int64_t kCalibFromData = 512;

// Logits [samples, classes] of `m` (inference) over `d`, row-major.
struct Logits {
  std::vector<float> values;
  int64_t classes = 0;
  int64_t top1(int64_t i) const {
    const float* row = values.data() + i * classes;
    return std::max_element(row, row + classes) - row;
  }
};

Logits logits_of(const ir::Model& m, const Dataset& d, int64_t batch, int threads, const std::string& output) {
  kernels::ExecutorOptions eo;
  eo.threads = threads;
  kernels::Executor exec(m, eo);
  Logits l;
  batch = batch_size_for(m, batch, d.samples);
  for (int64_t b = 0; b < d.samples; b += batch) {
    kernels::NamedTensors outs = exec.run(batch_of(d, b, std::min(d.samples, b + batch)));
    const ir::Tensor* t = &outs.front().second;
    for (const auto& [name, v] : outs) {
      if (name == output) t = &v;
    }
    if (t->rank() != 2 || t->dtype() != ir::DType::kFloat) {
      throw_bad_input("quantization-aware training needs [N, classes] float logits; the output has shape {}",
                      ir::shape_to_string(t->shape()));
    }
    l.classes = t->shape()[1];
    l.values.insert(l.values.end(), t->values<float>().begin(), t->values<float>().end());
  }
  return l;
}

// The scale of the last activation pair in graph order: the step the export may differ by.
double last_activation_step(const ir::Model& m, const passes::FakeQuantGraph& fq) {
  double step = 0;
  for (const ir::Node* n : m.graph->topological_order()) {
    if (std::find(fq.activations.begin(), fq.activations.end(), n) != fq.activations.end()) {
      step = n->input(1)->initializer->element_as_double(0);
    }
  }
  return step;
}

}  // namespace

void add_qat_options(CLI::App* cmd, QatOptions& o) {
  cmd->add_flag("--qat", o.enabled,
                "Quantization-aware training: fake quantization where qdq puts Q/DQ, trained on --data, exported as QDQ");
  const size_t before = cmd->get_options().size();
  cmd->add_option("--data", o.data, "--qat: training data (.npz: arrays named after the inputs, plus labels)");
  cmd->add_option("--epochs", o.epochs, "--qat: passes over --data (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--calib-batch", o.calib_batch, "--qat: calibration batch size (with --qat, --batch is the training batch)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--freeze-ranges-after", o.freeze_ranges_after,
                  "--qat: steps after which activation ranges stop following the batches (default: half the run)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--freeze-bn-after", o.freeze_bn_after,
                  "--qat: steps after which the BatchNormalizations trained in fake-quant form use their running statistics "
                  "(default: half the run; 0: the folded layers train as they are)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--learn-scales", o.learn_scales,
                "--qat: train the weight and activation scales (LSQ) instead of per-channel max and moving averages");
  cmd->add_flag("--distill", o.distill, "--qat: distill from the float model (loss = A T^2 KL + (1 - A) cross-entropy)");
  o.trainer.temperature = 4.0;
  o.trainer.distill_alpha = 0.5;
  cmd->add_option("--temperature", o.trainer.temperature, "--qat --distill: temperature T (default 4)")->check(CLI::PositiveNumber);
  cmd->add_option("--distill-weight", o.trainer.distill_alpha, "--qat --distill: A (default 0.5)")->check(CLI::Range(0.0, 1.0));
  add_optimizer_options(cmd, o.trainer);
  add_device_option(cmd, "--device", o.trainer.device, "--qat: where the model trains");
  const std::vector<CLI::Option*> all = cmd->get_options();
  std::vector<const CLI::Option*> qat_only(all.begin() + static_cast<std::ptrdiff_t>(before), all.end());
  cmd->parse_complete_callback([&o, qat_only] {
    o.qat_given.clear();
    for (const CLI::Option* opt : qat_only) {
      if (opt->count() > 0) o.qat_given.push_back(opt->get_name());
    }
  });
}

void check_qat_options(const QatOptions& o, const passes::QuantizeSettings& s, bool target_drop, bool gptq, int64_t batch) {
  if (!o.enabled) {
    if (!o.data.empty()) throw Error(ExitCode::kUsage, "--data is training data for --qat; quantize calibrates on --calib");
    if (!o.qat_given.empty()) throw Error(ExitCode::kUsage, fmt::format("{} is for --qat", o.qat_given.front()));
    return;
  }
  const std::string format = s.format == "auto" ? "qdq" : s.format;
  if (format != "qdq") {
    throw Error(ExitCode::kUsage, fmt::format("--qat trains and writes the qdq format, not --format {}", s.format));
  }
  if (o.data.empty()) throw Error(ExitCode::kUsage, "--qat trains on labelled data: --data PATH");
  if (batch < 1) throw Error(ExitCode::kUsage, "--batch is the training batch with --qat: 1 or more samples");
  if (target_drop) throw Error(ExitCode::kUsage, "--qat does not combine with --target-drop");
  for (const std::string& name : o.qat_given) {
    if ((name == "--temperature" || name == "--distill-weight") && !o.distill) {
      throw Error(ExitCode::kUsage, fmt::format("{} is for --distill", name));
    }
  }
  if (gptq) throw Error(ExitCode::kUsage, "--qat trains the weights: --gptq does not apply");
  if (s.equalize || s.bias_correction == 1) {
    throw Error(ExitCode::kUsage, "--qat trains the weights and biases: --equalize and --bias-correction do not apply");
  }
  if (s.block > 0 || s.granularity == "block") throw Error(ExitCode::kUsage, "--qat takes per-channel or per-tensor weights, not --block");
}

std::string qat_pipeline_text(const QatOptions& o, const passes::QuantizeSettings& s, int64_t batch) {
  const distill::TrainerOptions& t = o.trainer;
  std::string freeze_bn;
  if (o.freeze_bn_after) freeze_bn = fmt::format(";freeze-bn-after={}", *o.freeze_bn_after);
  return fmt::format("{}qat<bits={};epochs={};lr={};batch={};seed={};learn-scales={};method={};distill={}{}>",
                     s.fold_bn ? "fold-batchnorm," : "", s.bits, o.epochs, t.schedule.base_lr, batch, t.seed, o.learn_scales,
                     s.method, o.distill, freeze_bn);
}

StageResult run_qat(ir::Model& model, const ir::Model& original, const QatOptions& o, const passes::QuantizeSettings& s,
                    const QatInputs& in, bool quiet_epochs, passes::QuantReport& report) {
  passes::quant::check_not_quantized(model);
  const Dataset train = labelled(model, o.data, in.labels, "--data");
  std::optional<Dataset> val;
  if (!in.val.empty()) val = labelled(model, in.val, in.labels, "--val");
  StageResult r;
  std::vector<passes::ConvBnPair> conv_bn;  // trained in fake-quant form (unfolded again after quantize-qdq)
  if (s.fold_bn) {
    conv_bn = passes::record_conv_bn_pairs(model);
    r.text += passes::FoldBatchNorm().run(model) + "\n";
  }

  // Ranges as quantize --format qdq calibrates them: the starting point of the moving averages.
  passes::QdqOptions q = passes::stage_qdq_options(s);
  q.recurrent_left_reason = "recurrent weights are not trained in fake-quant form (--qat)";
  std::optional<DataStream> calib;
  calibration::BatchSource source;
  if (!in.calib.empty()) {
    calib.emplace(model, in.calib, in.labels);
    source.samples = in.calib_samples > 0 ? std::min(in.calib_samples, calib->samples()) : calib->samples();
    if (source.samples == 0) throw_bad_input("--calib '{}' holds no samples", in.calib);
    source.batch = [&calib](int64_t b, int64_t e) { return calib->batch(b, e); };
  } else {
    source.samples = std::min(in.calib_samples > 0 ? in.calib_samples : kCalibFromData, train.samples);
    source.batch = [&train](int64_t b, int64_t e) { return batch_of(train, b, e); };
  }
  calibration::CalibrationOptions co;
  co.method = calibration::parse_method(s.method);
  co.percentile = s.percentile;
  co.bits = 8;
  co.symmetric = s.symmetric_activations;
  co.batch = batch_size_for(model, o.calib_batch, source.samples);
  co.threads = in.threads;
  const std::vector<std::string> names = passes::qdq_calibration_values(model, q);
  const calibration::CalibrationResult cal = calibration::calibrate(model, names, source, co);
  if (calib) calib->verify();
  q.ranges = cal.ranges;

  const auto groups = passes::qdq_range_groups(model, q);
  const auto floats = passes::record_float_layers(model);
  passes::QuantizeQdq qdq(q);
  r.text += qdq.run(model) + "\n";
  report = qdq.report();
  if (report.coverage.layers_total() == 0) {
    throw_bad_input("nothing to quantize: the model has no Conv, ConvTranspose, Gemm or MatMul layer");
  }
  report.coverage.throw_if_nothing_changed("quantized");
  passes::FakeQuantGraph fq = passes::qdq_to_fake_quant(model, floats, q);

  distill::TrainerOptions t = o.trainer;
  t.batch = in.batch;
  t.output = in.output;
  t.threads = in.threads;
  const int64_t steps_per_epoch = plan_steps(model, t, train.samples, o.epochs);
  const int64_t freeze_bn_after = o.freeze_bn_after.value_or(t.schedule.total_steps / 2);
  // Statistics frozen from the start: the folded layers train as they are (the same function, without
  // the weights' gradients scaled by gamma / sigma twice over).
  if (freeze_bn_after == 0) conv_bn.clear();
  passes::BatchNormFakeQuant bn(model, fq, conv_bn);
  if (bn.size() > 0 && freeze_bn_after >= t.schedule.total_steps) {
    spdlog::warn("--freeze-bn-after {}: the run has {} steps, so BatchNormalization never uses its running statistics in "
                 "training; the export folds them all the same (it may differ from the training forward)",
                 freeze_bn_after, t.schedule.total_steps);
  }
  distill::QatScaleOptions so;
  so.learn_scales = o.learn_scales;
  so.freeze_ranges_after = o.freeze_ranges_after.value_or(t.schedule.total_steps / 2);
  so.qdq = q;
  so.comm = t.comm;  // plan_steps set the ranks
  so.weight_of = [&bn](const passes::FakeQuantWeight& w) { return bn.folded_weight(w); };
  t.constants = bn.constants();
  distill::QatScales scales(model, fq, groups, cal.ranges, so);
  for (const std::string& name : scales.fixed_scales()) t.freeze.push_back(name);
  if (o.distill) t.teacher = &original;  // the float model, as the pipeline read it
  distill::Trainer trainer(model, t);
  // A pruned model keeps its zeros: every weight that is exactly zero is masked through training.
  std::map<std::string, ir::Tensor> masks;
  int64_t zeros_kept = 0;
  for (const passes::FakeQuantWeight& w : fq.weights) {
    const ir::Value* v = bn.trained_weight(w);
    const ir::Tensor& weight = *v->initializer;
    ir::Tensor mask(weight.dtype(), weight.shape());
    auto wv = weight.values<float>();
    auto mv = mask.mutable_values<float>();
    int64_t zeros = 0;
    for (size_t i = 0; i < wv.size(); ++i) {
      mv[i] = wv[i] == 0.0f ? 0.0f : 1.0f;
      zeros += wv[i] == 0.0f;
    }
    if (zeros > 0) masks.emplace(v->name(), std::move(mask));
    zeros_kept += zeros;
  }
  if (!masks.empty()) trainer.set_masks(std::move(masks));
  if (bn.size() > 0) {
    trainer.add_step_hook([&trainer, &bn, freeze_bn_after](int64_t step) {
      if (bn.frozen() || step < freeze_bn_after) return;
      bn.freeze();  // running statistics from now on: the folded layer the export computes
      trainer.rebuild();
    });
    spdlog::info("quantization-aware training: {} BatchNormalization{} in fake-quant form, statistics frozen after step {}",
                 bn.size(), bn.size() == 1 ? "" : "s", freeze_bn_after);
  }
  spdlog::info("quantization-aware training: {} weights and {} activations fake-quantized, {} samples, batch {}, {} steps per epoch",
               fq.weights.size(), fq.activations.size(), train.samples, t.batch, steps_per_epoch);
  const distill::TrainingData train_data = scales.attach(trainer, training_data(train));
  std::optional<distill::TrainingData> val_data;
  if (val) val_data = training_data(*val);
  const nlohmann::json epochs = run_epochs(trainer, train_data, val_data, 0, o.epochs, quiet_epochs);

  nlohmann::json j = {{"samples", train.samples}, {"batch", t.batch}, {"seed", t.seed}, {"steps", trainer.step()},
                      {"epochs", epochs}, {"learn_scales", o.learn_scales},
                      {"freeze_ranges_after", so.freeze_ranges_after}, {"range_updates", scales.range_updates()},
                      {"ema_decay", so.ema_decay},
                      {"calibration", {{"method", s.method}, {"samples", cal.samples}, {"values", names.size()}}},
                      {"weights_fake_quantized", fq.weights.size()}, {"activations_fake_quantized", fq.activations.size()},
                      {"zero_weights_kept", zeros_kept}, {"distill", o.distill},
                      {"batch_norm_trained", bn.size()}};
  if (bn.size() > 0) j["freeze_bn_after"] = freeze_bn_after;
  if (o.distill) {
    j["temperature"] = t.temperature;
    j["distill_weight"] = t.distill_alpha;
  }
  std::optional<Logits> trained;
  double step = 0;
  if (val) {
    trained = logits_of(model, *val, t.batch, t.threads, t.output);
    step = last_activation_step(model, fq);
  }
  bn.refold();  // W * sf and beta + (b - mean) * sf from the trained tensors: the folded layers again
  passes::fake_quant_to_qdq(model, fq);
  if (val) {  // the export against the training-time fake-quant forward, sample by sample
    const Logits exported = logits_of(model, *val, t.batch, t.threads, t.output);
    int64_t agree = 0, correct_fq = 0, correct = 0;
    double max_diff = 0;
    for (int64_t i = 0; i < val->samples; ++i) {
      const auto label = static_cast<int64_t>(val->labels->element_as_double(i));
      agree += trained->top1(i) == exported.top1(i);
      correct_fq += trained->top1(i) == label;
      correct += exported.top1(i) == label;
    }
    for (size_t k = 0; k < exported.values.size(); ++k) {
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(exported.values[k] - trained->values[k])));
    }
    const double n = static_cast<double>(val->samples);
    r.accuracy_before = top1_accuracy(original, *val, t.batch, t.threads, t.output);
    j["fake_quant_accuracy"] = static_cast<double>(correct_fq) / n;
    j["export_top1_agreement"] = static_cast<double>(agree) / n;
    j["export_max_output_diff"] = max_diff;
    j["last_activation_step"] = step;
    r.accuracy_after = static_cast<double>(correct) / n;
    r.text += fmt::format("val top-1      fake-quant {:.2f}%  exported {:.2f}%  (agreement {:.2f}%, largest output difference {:.3g})\n",
                          100.0 * static_cast<double>(correct_fq) / n, 100.0 * *r.accuracy_after, 100.0 * static_cast<double>(agree) / n,
                          max_diff);
  }
  r.report["qat"] = j;
  for (const passes::PassSpec& spec : passes::parse_pipeline(qat_pipeline_text(o, s, t.batch))) {
    r.steps.push_back(passes::print_pass(spec));
  }
  return r;
}

}  // namespace scalec::cli
