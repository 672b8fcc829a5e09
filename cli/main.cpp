// scalec: command-line model compression for ONNX. Maps every failure to DESIGN.md's exit codes.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <new>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/log_sink.h"
#include "ir/error.h"
#include "ir/printable.h"
#include "kernels/comm/communicator.h"
#include "kernels/device.h"

#ifndef SCALEC_VERSION
#define SCALEC_VERSION "unknown"
#endif

namespace {

std::string version_text() {
  auto cuda = scalec::kernels::cuda_status();
  return fmt::format("scalec {} (built for {}, CUDA kernels: {}, MPI ranks: {})", SCALEC_VERSION, SCALEC_MARCH,
                     cuda.compiled ? "yes" : "no", scalec::kernels::comm::mpi_compiled() ? "yes" : "no");
}

namespace comm = scalec::kernels::comm;

// "scalec" alone, or "scalec rank R" when data-parallel ranks run (their messages say who they are).
std::string who() {
  return comm::launched_with_ranks() ? fmt::format("scalec rank {}", comm::world().rank()) : "scalec";
}

void set_up_logging(const std::string& level) {
  auto logger = scalec::cli::make_stderr_logger("scalec");  // logs on stderr; results on stdout
  logger->set_pattern("[" + who() + "] %^%l%$: %v");
  spdlog::set_default_logger(logger);
  auto l = spdlog::level::from_str(level);
  // Ranks other than 0 only warn and fail: rank 0 reports the run.
  if (comm::launched_with_ranks() && comm::world().rank() != 0) l = std::max(l, spdlog::level::warn);
  spdlog::set_level(l);
}

// Under mpirun with several ranks, only the data-parallel training commands may run.
void check_rank_aware(const CLI::App& app) {
  if (!comm::launched_with_ranks()) return;
  for (const CLI::App* sub : app.get_subcommands()) {
    const std::string& name = sub->get_name();
    const bool qat = name == "quantize" && sub->count("--qat") > 0;
    if (name != "finetune" && name != "distill" && name != "prune" && !qat) {
      throw scalec::Error(scalec::ExitCode::kUsage,
                          fmt::format("'{}' does not run data-parallel: start it without mpirun (under mpirun: finetune, "
                                      "distill, prune, quantize --qat)", name));
    }
  }
}

int run(CLI::App& app, int argc, char** argv, const std::function<void()>& on_parsed) {
  try {
    app.parse_complete_callback(on_parsed);
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as ParseErrors with exit code 0; every usage error maps to 1.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "%s: error: %s\nRun with --help for more information.\n", who().c_str(), e.what());
    return static_cast<int>(scalec::ExitCode::kUsage);
  } catch (const scalec::Error& e) {
    // Messages quote model-supplied names: control bytes are escaped, as in every log line.
    std::fprintf(stderr, "%s: error: %s\n", who().c_str(), scalec::ir::printable_text(e.what()).c_str());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", who().c_str());
    return static_cast<int>(scalec::ExitCode::kInternal);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", who().c_str(), scalec::ir::printable_text(e.what()).c_str());
    return static_cast<int>(scalec::ExitCode::kInternal);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scalec: compress ONNX models (prune, quantize, distill) natively on the graph", "scalec"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  // Every option's --help line shows its default (the subcommands inherit this).
  app.option_defaults()->always_capture_default();
  std::string log_level = "info";
  auto* level = app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
                    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  bool quiet = false, verbose = false;
  auto* q = app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr (--log-level warn)")->excludes(level);
  app.add_flag("-v,--verbose", verbose, "Debug messages on stderr (--log-level debug)")->excludes(level)->excludes(q);
  // The options above may also follow the command (scalec quantize ... -q).
  app.fallthrough();
  app.footer("Exit codes: 0 ok, 1 usage, 2 bad input, 3 target missed, 4 I/O error writing output, 70 internal.");

  scalec::cli::add_inspect_command(app);
  scalec::cli::add_convert_command(app);
  scalec::cli::add_infer_command(app);
  scalec::cli::add_eval_command(app);
  scalec::cli::add_finetune_command(app);
  scalec::cli::add_distill_command(app);
  scalec::cli::add_quantize_command(app);
  scalec::cli::add_prune_command(app);
  scalec::cli::add_run_command(app);
  scalec::cli::add_compare_command(app);
  scalec::cli::add_sensitivity_command(app);

  // CLI11 reports an unknown word only as "A subcommand is required"; name it instead.
  if (argc > 1 && argv[1][0] != '-' && app.get_subcommands([&](CLI::App* s) { return s->get_name() == argv[1]; }).empty()) {
    std::fprintf(stderr, "scalec: error: unknown subcommand '%s' (run 'scalec --help' for the list)\n", argv[1]);
    return static_cast<int>(scalec::ExitCode::kUsage);
  }
  if (comm::launched_with_ranks()) {
    try {
      if (comm::world().rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 70;  // rank 0 prints results
    } catch (const scalec::Error& e) {
      std::fprintf(stderr, "scalec: error: %s\n", e.what());
      return static_cast<int>(e.code());
    }
  }
  const int rc = run(app, argc, argv, [&] {
    set_up_logging(quiet ? "warn" : verbose ? "debug" : log_level);
    check_rank_aware(app);
  });
  std::fflush(stderr);
  // A rank that failed ends them all (mpirun names the rank); otherwise MPI, if it started, ends cleanly.
  if (comm::launched_with_ranks() && rc != 0) comm::world().abort(rc);
  comm::finalize_world();
  return rc;
}
