#pragma once
// Structural verification of a graph: every use defined, no cycles, SSA names, subgraph scopes,
// and recorded types that agree with the data they describe. Op semantics are kernels/ops' job.
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::ir {

/// What verify() found; errors make a model invalid, warnings do not.
struct VerifyReport {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  bool ok() const { return errors.empty(); }
  /// Errors joined one per line (for messages).
  std::string summary(size_t max_errors = 5) const;
};

/// Checks `graph` and its subgraphs.
VerifyReport verify(const Graph& graph);
/// Checks the model's graph and header (IR version, opset imports).
VerifyReport verify(const Model& model);
/// verify(), throwing Error(kBadInput) with the findings when there are errors.
void verify_or_throw(const Model& model);

}  // namespace scalec::ir
