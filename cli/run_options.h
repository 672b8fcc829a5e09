#pragma once
// Options every command that runs the model shares: resource limits and how strictly declared
// output types are held against what the model computes (docs/reliability.md).
#include <CLI/CLI.hpp>

namespace scalec::cli {

/// Adds --max-tensor-bytes SIZE (largest tensor one op output may take; default half of physical
/// memory; suffixes k, M, G as powers of 1024) and --lenient to `cmd`; they set the process-wide
/// limits in kernels/exec/run_limits.h.
void add_run_options(CLI::App* cmd);

}  // namespace scalec::cli
