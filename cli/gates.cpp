#include "cli/gates.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "cli/dataset.h"
#include "cli/top1_drop.h"
#include "ir/error.h"
#include "kernels/exec/executor.h"

namespace scalec::cli {

namespace {

int64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

// Seconds to run all of `data` through `exec`.
double time_once(kernels::Executor& exec, const Dataset& data, int64_t batch) {
  const auto start = std::chrono::steady_clock::now();
  for (auto [b, end] : run_ranges(data.samples, batch, data.axes)) exec.run(batch_of(data, b, end));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "26,190 bytes", "0.28 points", "1.52x"
std::string value_text(const GateResult& g, double v) {
  if (g.unit == "bytes") return fmt::format("{} bytes", static_cast<int64_t>(v));
  if (g.unit == "x") return fmt::format("{:.2f}x", v);
  return fmt::format("{:.2f} {}", v, g.unit);
}

}  // namespace

int64_t model_bytes(const std::string& file, const std::vector<std::string>& data_files) {
  int64_t n = file_size_or_zero(file);
  for (const std::string& f : data_files) n += file_size_or_zero(f);
  return n;
}

int64_t written_model_bytes(const OutputSet& files, const std::string& path) {
  return file_size_or_zero(files.current_path(path)) + file_size_or_zero(files.current_path(path + ".data"));
}

void add_gate_options(CLI::App* cmd, GateOptions& gates) {
  const char* group = "Gates (a missed gate exits 3; outputs are still written)";
  cmd->add_option("--max-accuracy-drop", gates.max_accuracy_drop,
                  "Top-1 points the output may lose against the input model on --val (no labels: top-1 agreement lost)")
      ->check(CLI::NonNegativeNumber)->group(group);
  cmd->add_option("--max-size", gates.max_size, "Bytes the output model (file plus external data) may take")
      ->check(CLI::PositiveNumber)->group(group);
  cmd->add_option("--min-speedup", gates.min_speedup,
                  "Input time / output time in scalec's runtime on --val (median of 5 alternating runs)")
      ->check(CLI::PositiveNumber)->group(group);
}

void check_gate_inputs(const GateOptions& gates, const EvalSpec& eval, bool output_runs) {
  if (gates.max_accuracy_drop && eval.val.empty()) throw Error(ExitCode::kUsage, "--max-accuracy-drop needs --val");
  if (gates.min_speedup && eval.val.empty()) throw Error(ExitCode::kUsage, "--min-speedup needs --val");
  if ((gates.max_accuracy_drop || gates.min_speedup) && !output_runs) {
    throw Error(ExitCode::kUsage, "--max-accuracy-drop and --min-speedup run the output in scalec's runtime, which has no "
                                  "float16 kernels: check an fp16 model with ONNX Runtime (--max-size works)");
  }
}

std::vector<GateResult> measure_gates(const GateOptions& gates, const ir::Model& input, const ir::Model& output,
                                      int64_t output_bytes, const EvalSpec& eval,
                                      std::optional<double> accuracy_before, std::optional<double> accuracy_after) {
  std::vector<GateResult> out;
  if (gates.max_accuracy_drop) {
    double drop = 0;
    std::string how = "accuracy";
    if (accuracy_before && accuracy_after) {
      // Rounded past float noise: 98.61% - 97.61% is 1 point, not 1.0000000000000009.
      drop = std::round(1e9 * 100.0 * (*accuracy_before - *accuracy_after)) / 1e9;
    } else {  // without labels in --val: the drop in top-1 agreement with the input model
      const Top1DropMeter meter(input, eval);
      drop = meter.measure(output).drop;
      how = meter.measure();
    }
    out.push_back({"max-accuracy-drop", *gates.max_accuracy_drop, drop, drop <= *gates.max_accuracy_drop, "points", how});
  }
  if (gates.max_size) {
    const int64_t bytes = output_bytes;
    out.push_back({"max-size", static_cast<double>(*gates.max_size), static_cast<double>(bytes),
                   bytes <= *gates.max_size, "bytes", ""});
  }
  if (gates.min_speedup) {
    const Dataset val = load_dataset(input, eval.val, eval.labels);
    if (val.samples == 0) throw_bad_input("--val '{}' holds no samples: --min-speedup has nothing to time", eval.val);
    kernels::ExecutorOptions eo;
    eo.threads = eval.threads;
    kernels::Executor a(input, eo), b(output, eo);
    const int64_t batch = batch_size_for(input, eval.batch, val.samples);
    time_once(a, val, batch);  // warm-up: first-run allocations and packing are not the model's speed
    time_once(b, val, batch);
    std::vector<double> ta, tb;
    for (int round = 0; round < 5; ++round) {  // alternating, so load changes hit both alike
      ta.push_back(time_once(a, val, batch));
      tb.push_back(time_once(b, val, batch));
    }
    const double speedup = median(ta) / std::max(median(tb), 1e-12);
    out.push_back({"min-speedup", *gates.min_speedup, speedup, speedup >= *gates.min_speedup, "x", ""});
  }
  return out;
}

nlohmann::json gates_json(const std::vector<GateResult>& results) {
  nlohmann::json a = nlohmann::json::array();
  for (const GateResult& g : results) {
    a.push_back({{"gate", g.name}, {"limit", g.limit}, {"measured", g.measured}, {"unit", g.unit}, {"passed", g.passed}});
    if (!g.measure.empty()) a.back()["measure"] = g.measure;
  }
  return a;
}

std::string gates_text(const std::vector<GateResult>& results) {
  std::string t;
  for (const GateResult& g : results) {
    const char* cmp = g.name.rfind("max-", 0) == 0 ? "<=" : ">=";
    t += fmt::format("gate {:<18} {}{} {} {}: {}\n", g.name, value_text(g, g.measured),
                     g.measure == "agreement" ? " (top-1 agreement lost, no labels)" : "", cmp, value_text(g, g.limit),
                     g.passed ? "passed" : "MISSED");
  }
  return t;
}

void throw_if_gate_missed(const std::vector<GateResult>& results) {
  std::string missed;
  for (const GateResult& g : results) {
    if (!g.passed) {
      missed.append(missed.empty() ? "" : "; ").append(fmt::format("{} {} (limit {})", g.name, value_text(g, g.measured), value_text(g, g.limit)));
    }
  }
  if (!missed.empty()) throw Error(ExitCode::kTargetMissed, "gate missed: " + missed);
}

}  // namespace scalec::cli
