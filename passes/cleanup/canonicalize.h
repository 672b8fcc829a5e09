#pragma once
// canonicalize: what other exporters write (Paddle2ONNX, tf2onnx, old opsets, no value_info) made
// to look like a PyTorch export, so every later pass sees weights, constants and shapes alike.
//
//   Before: Constant(value=W) -> W ; Constant(S) -> Reshape(W, S) -> W2 ; Conv(x, W2) ; Relu(unused)
//   After:  initializer W2 (the Reshape run once) ; Conv(x, W2) ; value_info for every typed value
//
// Steps, repeated until nothing changes: every Constant node becomes an initializer of the same
// name; a node whose inputs are all constant (initializers that are not graph inputs) is run once
// with scalec's own kernels and its outputs become initializers (names kept); nodes nothing reads
// and initializers nothing reads go. Then shapes and types are inferred and recorded (main graph).
// If/Loop/Scan bodies get the same constant and dead-node steps (their shapes are not recorded).
//
// Preconditions kept: graph inputs, outputs, dynamic dims and metadata stay as they were. Not
// folded: random ops (RandomNormal...), quantization ops (a QDQ weight stays quantized), nodes with
// subgraphs, nodes producing a graph output, nodes whose output size shape inference cannot tell
// or that exceeds max_fold_bytes (ConstantOfShape of a big shape stays a node).
#include <cstddef>
#include <cstdint>

#include "passes/core/pass.h"

namespace scalec::passes {

/// What canonicalize may do.
struct CanonicalizeOptions {
  /// Largest output (bytes, all outputs of one node) a fold may materialize.
  int64_t max_fold_bytes = int64_t{64} << 20;
  /// Records inferred types and shapes as value_info.
  bool record_shapes = true;
};

/// What canonicalize did.
struct CanonicalizeStats {
  size_t constants = 0;            ///< Constant nodes turned into initializers
  size_t folded = 0;               ///< other nodes run once and replaced by initializers
  size_t dead_nodes = 0;           ///< nodes removed because nothing read their outputs
  size_t dead_initializers = 0;    ///< initializers removed because nothing read them
  size_t shapes_recorded = 0;      ///< values whose recorded type inference added to or refined
  /// True when the graph's nodes or initializers changed (not only its recorded types).
  bool changed_graph() const { return constants + folded + dead_nodes + dead_initializers > 0; }
};

/// Canonicalizes `model` in place (see the file comment); returns what it did.
CanonicalizeStats canonicalize(ir::Model& model, const CanonicalizeOptions& options = {});

/// The one-line summary ("canonicalize: 161 Constant nodes -> initializers, 12 nodes folded, ...").
std::string canonicalize_summary(const CanonicalizeStats& stats);

/// The pass form of canonicalize.
class Canonicalize final : public Pass {
 public:
  explicit Canonicalize(CanonicalizeOptions options = {}) : options_(options) {}
  std::string name() const override { return "canonicalize"; }
  std::string run(ir::Model& model) override;

 private:
  CanonicalizeOptions options_;
};

}  // namespace scalec::passes
