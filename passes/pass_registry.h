#pragma once
// Every pass pipeline text may name, created from its `name<options>` (the text a run's
// --print-pipeline and the output's provenance print): cleanup, fusion, pruning and quantization.
#include <memory>
#include <string>
#include <vector>

#include "passes/core/pass.h"
#include "passes/core/pass_text.h"

namespace scalec::passes {

/// The pass `spec` names with its options set; Error(kUsage) for an unknown name (listing the
/// registered ones), key or value.
std::unique_ptr<Pass> create_pass(const PassSpec& spec);

/// The registered pass names, sorted.
std::vector<std::string> registered_pass_names();

}  // namespace scalec::passes
