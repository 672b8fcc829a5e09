#pragma once
// Shape and type inference over a model's main graph, from the rules each op registers
// (OpDef::infer). Fills Value::type of node outputs, so passes and statistics see shapes the
// model does not record, and checks the types the model does record against the ops.
#include <cstdint>
#include <string>
#include <unordered_map>
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

/// Types by value: what inference knows about each value (recorded types merged with inferred ones).
using TypeMap = std::unordered_map<const ir::Value*, ir::TypeInfo>;

/// The types infer_shapes would record, without changing the model: passes and autodiff read
/// these instead of the recorded types alone. Recorded types win where they contradict an op.
/// Throws Error(kBadInput) as infer_shapes does when input types contradict an op.
TypeMap inferred_types(const ir::Model& model);

/// The type `types` holds for `v`, else the recorded one; null when neither knows it.
inline const ir::TypeInfo* type_of(const TypeMap& types, const ir::Value* v) {
  auto it = types.find(v);
  return it != types.end() ? &it->second : (v->type ? &*v->type : nullptr);
}

/// Merges two descriptions of one value; nullopt when they contradict each other.
std::optional<ir::TypeInfo> merge_types(const ir::TypeInfo& recorded, const ir::TypeInfo& inferred);

}  // namespace scalec::kernels
