#include "cli/app_context.h"

#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "cli/dataset.h"
#include "cli/output_set.h"
#include "ir/error.h"
#include "passes/cleanup/canonicalize.h"
#include "passes/fuse/fold_batchnorm.h"
#include "onnx_io/file_util.h"

#ifndef SCALEC_VERSION
#define SCALEC_VERSION "unknown"
#endif

namespace scalec::cli {

namespace {
const auto process_start = std::chrono::steady_clock::now();
}  // namespace

nlohmann::json report_header(const std::string& command, const std::vector<std::pair<std::string, std::string>>& inputs) {
  nlohmann::json in = nlohmann::json::object();
  for (const auto& [role, path] : inputs) {
    if (!path.empty()) in[role] = path;
  }
  return {{"schema_version", kReportSchemaVersion}, {"command", command}, {"scalec_version", SCALEC_VERSION}, {"inputs", in}};
}

void report_footer(nlohmann::json& report) {
  report["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - process_start).count();
  report["peak_rss_bytes"] = peak_rss_bytes();
}

void write_report(const nlohmann::json& report, const std::string& path, onnx_io::CommitGroup* group) {
  std::string text = report.dump(2) + "\n";
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  try {
    onnx_io::AtomicFile out(path, group);  // devices and FIFOs are written directly, never replaced
    out.write(text);
    out.commit();
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("report: {}", e.what()));
  }
}

void canonicalize_for_passes(ir::Model& model) {
  // Checked first: canonicalization would remove every node of such a graph as dead.
  if (model.graph->outputs.empty()) throw_bad_input("the model's graph has no outputs, so there is nothing to compute");
  const passes::CanonicalizeStats stats = passes::canonicalize(model);
  // A PyTorch export only gains value_info: worth a debug line, not a line on every run.
  spdlog::log(stats.changed_graph() ? spdlog::level::info : spdlog::level::debug, "{}", passes::canonicalize_summary(stats));
}

void prepare_for_inference(ir::Model& model, bool fold_bn) {
  if (!fold_bn) return;
  // One pass over weights that are read anyway; saves a BatchNormalization pass over every
  // activation of a Conv+BN net (the model in memory only: nothing is written).
  spdlog::debug("{}", passes::FoldBatchNorm().run(model));
}

void check_output_is_not_input(const std::string& input, const std::string& output, bool in_place) {
  OutputSet files;
  files.allow_in_place(in_place);
  files.input("model", input);
  files.output("-o", output);
  files.check();
}

}  // namespace scalec::cli
