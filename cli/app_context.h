#pragma once
// What every subcommand shares: logging set-up, the exit-code contract, report writing.
#include <functional>
#include <utility>
#include <vector>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ir/graph.h"

namespace scalec::onnx_io {
class CommitGroup;
}

namespace scalec::cli {

/// Version of the JSON written by --json and --report (docs/report.schema.json); bump when a field
/// changes meaning.
inline constexpr int kReportSchemaVersion = 2;

/// Registers one subcommand on `app`; its callback does the work and may throw scalec::Error.
using CommandRegistrar = std::function<void(CLI::App& app)>;

void add_inspect_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_infer_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_finetune_command(CLI::App& app);
void add_distill_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_prune_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_sensitivity_command(CLI::App& app);

/// The fields every report starts with (docs/report.schema.json): schema_version, command,
/// scalec_version, and `inputs`, the files read by role ("model", "data", "val", ...; empty paths left out).
nlohmann::json report_header(const std::string& command,
                             const std::vector<std::pair<std::string, std::string>>& inputs);
/// Adds what every report ends with: seconds since the process started, peak_rss_bytes.
void report_footer(nlohmann::json& report);

/// Writes `report` as JSON to PATH, or to stdout for "-" (atomically for files; with `group`, renamed
/// into place by its commit() together with the command's other outputs).
void write_report(const nlohmann::json& report, const std::string& path, onnx_io::CommitGroup* group = nullptr);

/// Canonicalizes a freshly loaded model in memory (passes/cleanup/canonicalize.h): Constant weights
/// become initializers, constant subgraphs fold, shapes are recorded, dead nodes go. Every command
/// that transforms, trains or runs a model calls it right after loading.
void canonicalize_for_passes(ir::Model& model);

/// Prepares a loaded model for inference-only runs (infer, eval): folds BatchNormalization into
/// the preceding Conv/ConvTranspose/Gemm, as ONNX Runtime does, unless `fold_bn` is false.
void prepare_for_inference(ir::Model& model, bool fold_bn);

/// Refuses to write over the input unless --in-place was given (exit code 1).
void check_output_is_not_input(const std::string& input, const std::string& output, bool in_place);

}  // namespace scalec::cli
