#pragma once
// The command form of a stage (`scalec quantize MODEL [-o OUT] ...`): reads and canonicalizes the
// model, runs the stage, writes the output (beside the input as <stem>.<tag>.onnx without -o), the
// report and the gates, all committed together; the same contract for prune, quantize and finetune.
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/stage.h"

namespace scalec::cli {

/// Registers `scalec <stage name>` on `app`.
/// `model_flag` names the model as an option ("--student") instead of the positional MODEL.
void add_stage_command(CLI::App& app, std::shared_ptr<Stage> stage, const std::string& description,
                       const std::string& model_flag = "");

/// --target-opset N: upgrades the finished model explicitly (never downgrades: exit 1), recording
/// the upgrade-opset step in `r`.
void add_target_opset_option(CLI::App* cmd, std::optional<int64_t>& target);
void apply_target_opset(ir::Model& model, std::optional<int64_t> target, StageResult& r);
/// Refuses a --target-opset below the loaded model's opset before any work (Error kUsage).
void check_target_opset(const ir::Model& model, std::optional<int64_t> target);

/// `<folder of input>/<stem>.<tag>.onnx`, the stem being the file name without its .onnx extension.
std::string default_output(const std::string& input, const std::string& tag);

}  // namespace scalec::cli
