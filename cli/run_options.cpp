#include "cli/run_options.h"

#include <string>

#include "kernels/exec/run_limits.h"

namespace scalec::cli {

void add_run_options(CLI::App* cmd) {
  cmd->add_option_function<size_t>(
         "--max-tensor-bytes", [](const size_t& bytes) { kernels::set_max_tensor_bytes(bytes); },
         "Refuse (exit 2) an op whose output would take more bytes than SIZE, before it runs (default: half of "
         "physical memory; k, M, G suffixes)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::PositiveNumber);
  cmd->add_flag_function(
      "--lenient", [](int64_t n) { kernels::set_lenient_outputs(n > 0); },
      "Keep running when a graph output's declared type or shape contradicts what the model computes");
}

}  // namespace scalec::cli
