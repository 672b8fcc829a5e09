#pragma once
// A user-level stage — prune, finetune, quantize, eval — as both its command (`scalec quantize ...`)
// and a step of `scalec run`: the command's long options, the files it reads, the pipeline text it
// expands into, and its work on a model in memory. Loading, saving, reports, gates and the exit
// codes are the runner's (stage_command.h, run_command.cpp), the same for every stage.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ir/graph.h"

namespace scalec::cli {

/// Where a stage's accuracy figures come from (its --val, labels, logits output, batch, threads).
struct EvalSpec {
  std::string val, labels = "labels", output;
  int64_t batch = 32;
  int threads = 0;
};

/// What one stage run produced besides the model.
struct StageResult {
  nlohmann::json report = nlohmann::json::object();  ///< the stage's report fields
  std::string text;                                   ///< its lines for stdout
  std::vector<std::string> steps;                     ///< pipeline text of what ran, in order
  std::optional<double> accuracy_before, accuracy_after;  ///< top-1 on EvalSpec::val, when measured
  /// A target the stage itself missed (quantize --target-drop): the runner exits 3 with it after
  /// writing the outputs.
  std::optional<std::string> target_missed;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Set by the runner before run():
  bool verify_each = false;   ///< verify the model after every pass
  bool quiet_epochs = false;  ///< stdout carries the JSON report: no per-epoch lines there
  std::string input_file;     ///< the model file the pipeline read (before-figures)
  virtual std::string name() const = 0;
  /// The tag of the default output beside the input: <stem>.<tag>.onnx ("pruned", "int8").
  virtual std::string output_tag() const = 0;
  /// Registers the command's long options (not the model, -o or --report) on `cmd`.
  virtual void add_options(CLI::App* cmd) = 0;
  /// Usage checks that need no model (Error kUsage naming the conflict).
  virtual void check() const {}
  /// The data files the stage reads, as (flag, path); empty paths are skipped.
  virtual std::vector<std::pair<std::string, std::string>> inputs() const = 0;
  /// Files the stage writes itself as it goes (checkpoints), as (flag, path): never an input.
  virtual std::vector<std::pair<std::string, std::string>> side_outputs() const { return {}; }
  /// Fills in data a pipeline file gives once for every stage (only where the stage's own option is empty).
  virtual void set_data(const std::string& train, const std::string& val, const std::string& calib,
                        const std::string& labels) = 0;
  /// The expanded pipeline text, as far as it is known before the model is read.
  virtual std::string pipeline_text() const = 0;
  /// Where accuracy gates measure.
  virtual EvalSpec eval_spec() const = 0;
  /// Whether scalec's runtime runs the stage's output (not a float16 model): accuracy and speed gates.
  virtual bool output_runs_in_scalec() const { return true; }
  /// Whether the stage writes a model (eval does not).
  virtual bool writes_model() const { return true; }
  /// Transforms `model` in memory (`original` is the model as the pipeline read it).
  virtual StageResult run(ir::Model& model, const ir::Model& original) = 0;
};

/// The stage of that name, null for an unknown one.
std::unique_ptr<Stage> make_stage(const std::string& name);
/// The stage names, in the order the docs list them.
std::vector<std::string> stage_names();

std::unique_ptr<Stage> make_quantize_stage();
/// quantize with --qat on (the `qat` stage of scalec run).
std::unique_ptr<Stage> make_qat_stage();
std::unique_ptr<Stage> make_prune_stage();
std::unique_ptr<Stage> make_finetune_stage();
std::unique_ptr<Stage> make_distill_stage();
std::unique_ptr<Stage> make_eval_stage();

}  // namespace scalec::cli
