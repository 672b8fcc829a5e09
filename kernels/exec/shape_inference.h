#pragma once
// Shape and type inference over a model's main graph, from the rules each op registers
// (OpDef::infer). Fills Value::type of node outputs, so passes and statistics see shapes the
// model does not record, and checks the types the model does record against the ops.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::kernels {

/// How infer_shapes treats what it finds.
struct ShapeInferenceOptions {
  /// A recorded type that contradicts the inferred one is an error (kBadInput naming node and
  /// value); otherwise the recorded type is kept and the disagreement listed in the report.
  bool strict = true;
  /// Computes small values whose inputs are all known, so data-dependent shapes come out exact.
  /// Off, only Constant nodes and integer outputs (shape arithmetic: Shape -> Gather -> Concat ->
  /// Reshape chains) are computed, as ONNX's data propagation does.
  bool fold_constants = true;
  /// Largest output (elements) a folded node may produce.
  int64_t max_fold_elements = 1 << 16;
};

/// What infer_shapes did.
struct ShapeInferenceReport {
  size_t outputs_typed = 0;                     ///< node outputs a rule gave a type
  std::vector<std::string> nodes_without_rule;  ///< "Op 'node'" where no rule exists (types kept as recorded)
  std::vector<std::string> conflicts;           ///< non-strict: recorded types kept despite the rule
};

/// Infers the element type and shape of every node output of the main graph, in topological
/// order, merging with recorded types (a known dimension wins over an unknown one; a recorded
/// symbolic name is kept). Throws Error(kBadInput) naming the node when input types contradict
/// an op.
ShapeInferenceReport infer_shapes(ir::Model& model, const ShapeInferenceOptions& options = {});

/// Merges two descriptions of one value; nullopt when they contradict each other.
std::optional<ir::TypeInfo> merge_types(const ir::TypeInfo& recorded, const ir::TypeInfo& inferred);

}  // namespace scalec::kernels
