#pragma once
// Runs a pipeline of passes in order with one PassContext: times each, verifies the model after
// each when asked (a pass that breaks the model is an internal error naming it), and prints the
// pipeline text recorded in the output's provenance.
#include <memory>
#include <string>
#include <vector>

#include "passes/core/pass.h"
#include "passes/core/pass_context.h"

namespace scalec::passes {

/// What one pass did and how long it took.
struct PassRun {
  std::string text;     ///< name<options>
  std::string summary;  ///< its one-line summary
  double seconds = 0;
};

class PassManager {
 public:
  void add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  bool empty() const { return passes_.empty(); }
  /// The passes' text joined with commas (`fold-batchnorm,quantize-qdq<bits=7;...>`).
  std::string pipeline_text() const;
  /// Runs every pass on `model`; logs each summary with its time at debug level.
  std::vector<PassRun> run(ir::Model& model, PassContext& context);

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
};

}  // namespace scalec::passes
