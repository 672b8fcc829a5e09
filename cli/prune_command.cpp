// scalec prune: L1 magnitude pruning (unstructured, N:M, whole channels), optionally with recovery
// fine-tuning: with --data, sparsity rises along a polynomial schedule while the model trains, the
// masks stay fixed between updates, and --distill uses the unpruned model as teacher.
#include <charconv>
#include <cstdio>
#include <optional>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/model_figures.h"
#include "cli/stage.h"
#include "cli/stage_command.h"
#include "cli/training_cli.h"
#include "distill/gradual_pruning.h"
#include "ir/error.h"
#include "passes/cleanup/remove_dropout.h"
#include "passes/core/pass_text.h"
#include "passes/cleanup/share_initializers.h"
#include "passes/prune/channel_prune.h"
#include "passes/prune/magnitude_prune.h"
#include "passes/prune/prune_coverage.h"

namespace scalec::cli {

namespace {

struct PruneOptions {
  std::string method = "unstructured", data, val, labels = "labels";
  double sparsity = 0.5;
  bool global = false, prune_first = false, prune_last = false, distill = false;
  std::vector<std::string> layer_sparsity, skip;
  int64_t epochs = 0;
  double initial_sparsity = 0.0;
  int64_t begin_step = 0, end_step = -1, frequency = 0;
  std::string round_to = "auto";
  std::string checkpoint;
  bool resume = false;
  distill::TrainerOptions trainer;
};

std::map<std::string, double> parse_layer_sparsity(const std::vector<std::string>& items) {
  std::map<std::string, double> out;
  for (const std::string& item : items) {
    const size_t eq = item.rfind('=');
    double s = -1;
    try {
      size_t used = 0;
      if (eq != std::string::npos && eq > 0) s = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1) s = -1;
    } catch (const std::exception&) {
      s = -1;
    }
    if (!(s >= 0 && s < 1)) throw Error(ExitCode::kUsage, fmt::format("--layer-sparsity '{}': expected NAME=S with 0 <= S < 1", item));
    out[item.substr(0, eq)] = s;
  }
  return out;
}

passes::MagnitudePruneOptions magnitude_options(const PruneOptions& o) {
  passes::MagnitudePruneOptions m;
  m.sparsity = o.sparsity;
  m.global = o.global;
  m.overrides = parse_layer_sparsity(o.layer_sparsity);
  m.skip = o.skip;
  m.prune_first = o.prune_first;
  m.prune_last = o.prune_last;
  if (o.method != "unstructured") passes::parse_n_m(o.method, m.n, m.m);
  return m;
}

int64_t zeros_in(const ir::Model& model, const std::string& weight) {
  const ir::Tensor& w = *model.graph->find_value(weight)->initializer;
  int64_t z = 0;
  for (int64_t i = 0; i < w.numel(); ++i) z += w.element_as_double(i) == 0.0;
  return z;
}

// Zeros in each layer's weight before (in `original`) and now (training may move a kept weight
// onto exactly 0; gradual pruning's last table counts from an already pruned model).
void recount(const ir::Model& original, const ir::Model& model, std::vector<passes::LayerPruneResult>& layers) {
  for (passes::LayerPruneResult& l : layers) {
    l.zeros_before = zeros_in(original, l.weight);
    l.zeros_after = zeros_in(model, l.weight);
  }
}

std::string layer_table(const std::vector<passes::LayerPruneResult>& layers) {
  std::string t = fmt::format("{:<34} {:<6} {:>10} {:>9} {:>9}  {}\n", "layer", "op", "weights", "before", "after", "note");
  const passes::LayerPruneResult* previous = nullptr;
  for (const passes::LayerPruneResult& l : layers) {
    const double n = static_cast<double>(std::max<int64_t>(l.elements, 1));
    std::string name = l.layer;
    if (l.op == "LSTM" || l.op == "GRU" || l.op == "RNN") {  // a recurrent layer's rows: its W, then its R
      const bool second = previous && previous->layer == l.layer && previous->op == l.op;
      name += second ? " (R)" : " (W)";
    }
    t += fmt::format("{:<34} {:<6} {:>10} {:>8.1f}% {:>8.1f}%  {}\n", name, l.op, l.elements, 100.0 * static_cast<double>(l.zeros_before) / n,
                     100.0 * static_cast<double>(l.zeros_after) / n, l.note);
    previous = &l;
  }
  return t;
}

// "pruned 48 of 53 layers, 96.0% of weights; 47.9% of all weights now zero", then one "left:"
// line per reason a layer was left.
std::string coverage_text(const passes::Coverage& c, const ir::Model& model) {
  std::string t = fmt::format("{}; {:.1f}% of all weights now zero\n", c.summary("pruned"), 100.0 * passes::zero_share(model));
  for (const std::string& line : c.reason_lines()) t += "left: " + line + "\n";
  return t;
}

// --round-to: "auto" or a positive multiple.
int64_t parse_round_to(const std::string& text) {
  if (text == "auto") return passes::ChannelPruneOptions::kRoundAuto;
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1) {
    throw Error(ExitCode::kUsage, fmt::format("--round-to takes a positive integer or auto, got '{}'", text));
  }
  return n;
}

// Removes whole channels; returns the per-layer table, fills the report's "layers" and `coverage`.
std::string prune_whole_channels(ir::Model& model, const ir::Model& original, const PruneOptions& o, nlohmann::json& report,
                                 passes::Coverage& coverage) {
  passes::ChannelPruneOptions copts;
  copts.ratio = o.sparsity;
  copts.overrides = parse_layer_sparsity(o.layer_sparsity);
  copts.skip = o.skip;
  copts.round_to = parse_round_to(o.round_to);
  passes::ChannelPruneReport cr = passes::prune_channels(model, copts);
  spdlog::info("{}", cr.summary());
  std::string t = fmt::format("{:<34} {:<6} {:>5} {:>9} {:>7}  {}\n", "layer", "op", "group", "channels", "kept", "note");
  nlohmann::json a = nlohmann::json::array();
  for (const passes::ChannelPruneLayer& l : cr.layers) {
    t += fmt::format("{:<34} {:<6} {:>5} {:>9} {:>7}  {}\n", l.name, l.op, l.group, l.channels_before, l.channels_after, l.reason);
    a.push_back({{"layer", l.name}, {"op", l.op}, {"weight", l.weight}, {"group", l.group},
                 {"channels_before", l.channels_before}, {"channels_after", l.channels_after}, {"note", l.reason}});
  }
  report["layers"] = a;
  report["groups"] = cr.groups;
  report["groups_pruned"] = cr.groups_pruned;
  coverage = passes::channel_coverage(original, cr);
  return t;
}

nlohmann::json layers_json(const std::vector<passes::LayerPruneResult>& layers) {
  nlohmann::json a = nlohmann::json::array();
  for (const passes::LayerPruneResult& l : layers) {
    a.push_back({{"layer", l.layer}, {"op", l.op}, {"weight", l.weight}, {"elements", l.elements},
                 {"sparsity_before", static_cast<double>(l.zeros_before) / static_cast<double>(std::max<int64_t>(l.elements, 1))},
                 {"sparsity_after", static_cast<double>(l.zeros_after) / static_cast<double>(std::max<int64_t>(l.elements, 1))},
                 {"target", l.target}, {"note", l.note}});
  }
  return a;
}

std::string figures_line(const char* what, double before, double after) {
  return fmt::format("{:<16} {:>14.0f} -> {:>14.0f}  ({:.2f}x)\n", what, before, after, after > 0 ? before / after : 0.0);
}

class PruneStage final : public Stage {
 public:
  std::string name() const override { return "prune"; }
  std::string output_tag() const override { return "pruned"; }

  void add_options(CLI::App* cmd) override {
    PruneOptions& o = o_;
    cmd->add_option("--sparsity", o.sparsity, "Fraction of weights (unstructured) or output channels (channel) removed")
        ->check(CLI::Range(0.0, 0.999));
    cmd->add_option("--method", o.method, "unstructured, channel, or an N:M pattern such as 2:4");
    cmd->add_flag("--global", o.global, "Unstructured: one magnitude threshold across layers instead of one per layer");
    cmd->add_option("--layer-sparsity", o.layer_sparsity, "NAME=S: sparsity of one layer (node or weight name; repeatable)");
    cmd->add_option("--skip", o.skip, "Leave layers matching this glob (node or weight name) dense (repeatable)");
    cmd->add_flag("--prune-first", o.prune_first, "Also prune the first layer (kept dense by default)");
    cmd->add_flag("--prune-last", o.prune_last, "Also prune the last layer (kept dense by default)");
    cmd->add_option("--round-to", o.round_to,
                    "Channel: kept channel counts a multiple of N, or auto (default: 8 where a group keeps >= 32, "
                    "no rounding below)");
    cmd->add_option("--data", o.data, "Training data for recovery (.npz with labels)");
    cmd->add_option("--val", o.val, "Validation data: accuracy before and after, and after every epoch");
    cmd->add_option("--labels", o.labels, "Key of the labels array (integer class indices, shape [N])");
    cmd->add_option("--epochs", o.epochs, "Recovery epochs (needs --data)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--initial-sparsity", o.initial_sparsity, "Gradual pruning: sparsity at --prune-begin-step")
        ->check(CLI::Range(0.0, 0.999));
    cmd->add_option("--prune-begin-step", o.begin_step, "Gradual pruning: first step that prunes")->check(CLI::NonNegativeNumber);
    cmd->add_option("--prune-end-step", o.end_step, "Gradual pruning: step reaching --sparsity (default: half the steps)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--prune-frequency", o.frequency, "Gradual pruning: steps between mask updates (default: 10 updates)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--distill", o.distill, "Recover with the unpruned model as teacher (KL with temperature)");
    cmd->add_option("--temperature", o.trainer.temperature, "Distillation temperature")->check(CLI::PositiveNumber);
    cmd->add_option("--distill-weight", o.trainer.distill_alpha, "Weight of the distillation term (the rest: cross-entropy)")
        ->check(CLI::Range(0.0, 1.0));
    add_trainer_options(cmd, o.trainer);
    cmd->add_option("--checkpoint", o.checkpoint, "Recovery training: write training state and masks here (.npz) after every epoch");
    cmd->add_flag("--resume", o.resume, "Continue from --checkpoint when it exists");
  }

  void check() const override {
    const PruneOptions& o = o_;
    parse_round_to(o.round_to);  // a bad value is refused whatever the method
    if (o.epochs > 0 && o.data.empty()) throw Error(ExitCode::kUsage, "--epochs needs --data (recovery training)");
    if (!o.data.empty() && o.epochs == 0) throw Error(ExitCode::kUsage, "--data needs --epochs N (recovery training)");
    if (o.distill && o.data.empty()) throw Error(ExitCode::kUsage, "--distill needs --data and --epochs");
    if (!o.checkpoint.empty() && o.data.empty()) throw Error(ExitCode::kUsage, "--checkpoint needs --data and --epochs");
    if (o.resume && o.checkpoint.empty()) throw Error(ExitCode::kUsage, "--resume needs --checkpoint PATH");
    if (o.method == "channel" && (o.global || o.prune_first || o.prune_last || o.initial_sparsity > 0)) {
      throw Error(ExitCode::kUsage, "--global, --prune-first, --prune-last and --initial-sparsity apply to unstructured and N:M pruning");
    }
    if (o.method != "channel") magnitude_options(o);  // a bad N:M pattern or --layer-sparsity is refused
  }

  std::vector<std::pair<std::string, std::string>> inputs() const override {
    std::vector<std::pair<std::string, std::string>> in = {{"--data", o_.data}, {"--val", o_.val}};
    if (o_.resume) in.emplace_back("--checkpoint", o_.checkpoint);  // read and written: exempt from the check
    return in;
  }
  // Committed after every epoch, not with the outputs.
  std::vector<std::pair<std::string, std::string>> side_outputs() const override { return {{"--checkpoint", o_.checkpoint}}; }

  // A pipeline's training data trains only a stage that asks for epochs.
  void set_data(const std::string& train, const std::string& val, const std::string&, const std::string& labels) override {
    if (o_.data.empty() && o_.epochs > 0) o_.data = train;
    if (o_.val.empty()) o_.val = val;
    if (!labels.empty()) o_.labels = labels;
  }

  std::string pipeline_text() const override {
    const PruneOptions& o = o_;
    std::string t;
    if (o.method == "channel") {
      passes::ChannelPruneOptions copts;
      copts.ratio = o.sparsity;
      copts.overrides = parse_layer_sparsity(o.layer_sparsity);
      copts.skip = o.skip;
      copts.round_to = parse_round_to(o.round_to);
      t = passes::ChannelPrune(copts).text();
    } else if (o.data.empty()) {
      t = passes::MagnitudePrune(magnitude_options(o)).text();
    } else {
      t = fmt::format("prune<method={};sparsity={}>", o.method, o.sparsity);
    }
    if (!o.data.empty()) {
      t += fmt::format(",train<epochs={};lr={};batch={};seed={}{}>,remove-dropout", o.epochs, o.trainer.schedule.base_lr,
                       o.trainer.batch, o.trainer.seed, o.distill ? ";distill=true" : "");
    }
    return t + ",share-initializers";
  }

  EvalSpec eval_spec() const override { return {o_.val, o_.labels, o_.trainer.output, o_.trainer.batch, o_.trainer.threads}; }

  StageResult run(ir::Model& model, const ir::Model& original) override {
    const PruneOptions& o = o_;
    const bool channel = o.method == "channel";
    passes::MagnitudePruneOptions mopts;
    if (!channel) mopts = magnitude_options(o);
    std::optional<Dataset> train, val;
    if (!o.data.empty()) train = labelled(model, o.data, o.labels, "--data");
    if (!o.val.empty()) val = labelled(model, o.val, o.labels, "--val");
    distill::TrainerOptions t = o.trainer;
    StageResult r;
    if (val) r.accuracy_before = top1_accuracy(model, *val, t.batch, t.threads, t.output);

    nlohmann::json& report = r.report;
    report["method"] = o.method;
    report["sparsity"] = o.sparsity;
    std::string table;
    std::vector<passes::LayerPruneResult> layers;
    passes::Coverage coverage;
    if (channel) {
      table = prune_whole_channels(model, original, o, report, coverage);
      coverage.throw_if_nothing_changed("pruned");
    } else if (train) {
      // Before any training: the final sparsity's masks must change some layer.
      passes::magnitude_coverage(model, passes::magnitude_masks(model, mopts).layers).throw_if_nothing_changed("pruned");
    }

    if (train) {
      t.teacher = o.distill ? &original : nullptr;
      const int64_t steps_per_epoch = plan_steps(model, t, train->samples, o.epochs);
      const int64_t total = steps_per_epoch * o.epochs;
      distill::Trainer trainer(model, t);
      std::optional<distill::GradualPruner> pruner;
      if (!channel) {
        distill::SparsitySchedule s;
        s.initial = o.initial_sparsity;
        s.final = o.sparsity;
        s.begin_step = o.begin_step;
        s.end_step = o.end_step >= 0 ? o.end_step : total / 2;
        s.frequency = o.frequency > 0 ? o.frequency : std::max<int64_t>(1, (s.end_step - s.begin_step) / 10);
        if (s.begin_step >= total) throw_bad_input("--prune-begin-step {} is past the run's {} steps", s.begin_step, total);
        if (s.end_step >= total) {
          spdlog::warn("--prune-end-step {} is at or past the run's {} steps: the last update may fall short of {:.1f}%",
                       s.end_step, total, 100 * s.final);
        }
        pruner.emplace(trainer, model, mopts, s);
        trainer.add_step_hook([&pruner](int64_t step) { pruner->on_step(step); });
        spdlog::info("gradual pruning to {:.1f}% from step {} to {}, masks updated every {} steps; {} steps in all",
                     100 * s.final, s.begin_step, std::max(s.begin_step, s.end_step), s.frequency, total);
      }
      std::optional<distill::TrainingData> val_data;
      if (val) val_data = training_data(*val);
      // The settings a resumed run must share (the schedule and the pruning targets among them).
      const TrainingCheckpoint ckpt{o.checkpoint,
                                    {{"meta/seed", static_cast<double>(t.seed)}, {"meta/batch", static_cast<double>(t.batch)},
                                     {"meta/epochs", static_cast<double>(o.epochs)}, {"meta/lr", t.schedule.base_lr},
                                     {"meta/sparsity", o.sparsity}, {"meta/channel", channel ? 1.0 : 0.0}},
                                    "prune"};
      std::vector<onnx_io::NamedTensor> saved_masks;
      const int64_t first_epoch = ckpt.restore(o.resume, trainer, &saved_masks);
      if (pruner && first_epoch > 0) pruner->resume(trainer.step(), {saved_masks.begin(), saved_masks.end()});
      report["epochs"] = run_epochs(trainer, training_data(*train), val_data, first_epoch, o.epochs, quiet_epochs, [&](int64_t e) {
        std::vector<onnx_io::NamedTensor> masks;
        if (pruner) masks.assign(pruner->last().masks.begin(), pruner->last().masks.end());
        ckpt.save(trainer, e, masks);
      });
      if (train->stream) train->stream->verify();  // rows read out of order: every member's CRC before the output
      if (pruner) layers = pruner->last().layers;
      passes::RemoveDropout remove_dropout;
      spdlog::info("{}", remove_dropout.run(model));
      report["steps"] = trainer.step();
      report["distill"] = o.distill;
    } else if (!channel) {
      passes::MagnitudePrune pass(mopts);
      spdlog::info("{}", pass.run(model));
      layers = pass.result().layers;
    }
    if (!channel) {
      recount(original, model, layers);
      table = layer_table(layers);
      report["layers"] = layers_json(layers);
      report["prunable_sparsity"] = passes::overall_sparsity(layers);
      coverage = passes::magnitude_coverage(model, layers);
      coverage.throw_if_nothing_changed("pruned");
    }
    table += "\n" + coverage_text(coverage, model);
    report["coverage"] = coverage.to_json();
    report["all_weights_sparsity"] = passes::zero_share(model);  // zeros over every float weight, not only pruned layers

    // Canonicalization split the weights an exporter stored once; equal ones are shared again.
    if (const int64_t n = passes::share_identical_initializers(*model.graph); n > 0) {
      spdlog::info("share-initializers: {} equal weight tensor{} stored once", n, n == 1 ? "" : "s");
    }
    if (val) r.accuracy_after = top1_accuracy(model, *val, t.batch, t.threads, t.output);
    const std::string text = pipeline_text();
    for (const passes::PassSpec& step : passes::parse_pipeline(text)) r.steps.push_back(passes::print_pass(step));

    // The output's size as serialized (the written file adds only its provenance record).
    const ModelFigures before = measure_model_file(input_file), after = measure_model(model, "");
    report["before"] = to_json(before);
    report["after"] = to_json(after);
    r.text = table + "\n";
    r.text += fmt::format("{:<16} {:>14}    {:>14}\n", "", "before", "after");
    r.text += figures_line("parameters", static_cast<double>(before.parameters), static_cast<double>(after.parameters));
    r.text += figures_line("nonzero params", static_cast<double>(before.nonzero_parameters), static_cast<double>(after.nonzero_parameters));
    if (before.macs && after.macs) {
      r.text += figures_line("MACs/sample", static_cast<double>(*before.macs), static_cast<double>(*after.macs));
    } else {
      r.text += fmt::format("{:<16} {:>14}    {:>14}  (symbolic dims: see scalec inspect --input-shape)\n", "MACs/sample", "unknown", "unknown");
    }
    r.text += figures_line("file bytes", static_cast<double>(before.file_bytes), static_cast<double>(after.file_bytes));
    r.text += figures_line("gzip bytes", static_cast<double>(before.gzip_bytes), static_cast<double>(after.gzip_bytes));
    if (r.accuracy_before && r.accuracy_after) {
      report["accuracy_before"] = *r.accuracy_before;
      report["accuracy_after"] = *r.accuracy_after;
      r.text += fmt::format("{:<16} {:>13.2f}% -> {:>13.2f}%  ({:+.2f} points)\n", "val top-1", 100 * *r.accuracy_before,
                            100 * *r.accuracy_after, 100 * (*r.accuracy_after - *r.accuracy_before));
    }
    return r;
  }

 private:
  PruneOptions o_;
};

}  // namespace

std::unique_ptr<Stage> make_prune_stage() { return std::make_unique<PruneStage>(); }

void add_prune_command(CLI::App& app) {
  add_stage_command(app, make_prune_stage(),
                    "L1 magnitude pruning (unstructured, N:M or whole channels), with optional recovery training");
}

}  // namespace scalec::cli
