#pragma once
// Gates a CI pipeline sets on a command's result (run, quantize, prune; DESIGN.md exit code 3):
// --max-accuracy-drop (top-1 points on --val, output vs input model; without labels in --val, 100 -
// the top-1 agreement % with the input model's predictions), --max-size (bytes of the model
// file plus its external data), --min-speedup (scalec's runtime, input time / output time on --val,
// median of 5 alternating runs). Every gate is measured and listed; a missed one exits 3 after the
// outputs and the report are written.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/output_set.h"
#include "cli/stage.h"
#include "ir/graph.h"

namespace scalec::cli {

struct GateOptions {
  std::optional<double> max_accuracy_drop;  ///< points
  std::optional<int64_t> max_size;          ///< bytes
  std::optional<double> min_speedup;        ///< x
  bool any() const { return max_accuracy_drop || max_size || min_speedup; }
};

/// Registers --max-accuracy-drop, --max-size and --min-speedup on `cmd`.
void add_gate_options(CLI::App* cmd, GateOptions& gates);

/// Bytes of a model file plus the external data files it names.
int64_t model_bytes(const std::string& file, const std::vector<std::string>& data_files);
/// Bytes of a model `files` is writing to `path`, with its `<path>.data` (staged or committed).
int64_t written_model_bytes(const OutputSet& files, const std::string& path);

/// One gate: its limit, what was measured, whether it passed.
struct GateResult {
  std::string name;  ///< the option's name without dashes ("max-accuracy-drop")
  double limit = 0, measured = 0;
  bool passed = true;
  std::string unit;  ///< "points", "bytes", "x"
  std::string measure;  ///< max-accuracy-drop: "accuracy" (labels in --val) or "agreement" (none: 100 - top-1 agreement %)
};

/// Usage checks: an accuracy or speed gate needs validation data and an output scalec's runtime
/// runs (`output_runs`: not a float16 model) (Error kUsage).
void check_gate_inputs(const GateOptions& gates, const EvalSpec& eval, bool output_runs = true);

/// Measures every gate asked for. `output_bytes`: the written model with its external data;
/// accuracies already measured on `eval.val` are reused.
std::vector<GateResult> measure_gates(const GateOptions& gates, const ir::Model& input, const ir::Model& output,
                                      int64_t output_bytes, const EvalSpec& eval,
                                      std::optional<double> accuracy_before, std::optional<double> accuracy_after);

/// [{"gate", "limit", "measured", "unit", "passed"}].
nlohmann::json gates_json(const std::vector<GateResult>& results);
/// One line per gate ("gate max-size: 61,234 bytes <= 80,000: passed").
std::string gates_text(const std::vector<GateResult>& results);
/// Error(kTargetMissed) naming every missed gate; nothing when all passed.
void throw_if_gate_missed(const std::vector<GateResult>& results);

}  // namespace scalec::cli
