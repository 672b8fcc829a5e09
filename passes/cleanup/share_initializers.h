#pragma once
// share-initializers: float initializers with the same type, shape and bytes become one.
//
//   Before: MatMul(x, W1), MatMul(y, W2), W1 and W2 equal     After: MatMul(x, W1), MatMul(y, W1)
//
// Why: exporters store equal tensors once (PyTorch dedups the copied layers of a TransformerEncoder
// and its all-ones LayerNorm scales behind Identity nodes); canonicalization gives each reader its
// own copy, so a pruned model came out larger than its input (text transformer: 100K parameters
// in, 117K out). Sharing again is exact: readers see the same values.
//
// Preconditions: none; graph inputs and outputs keep their own initializers.
#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "passes/core/pass.h"

namespace scalec::passes {

/// Points the readers of each duplicate float initializer of the main graph at its first copy and
/// drops the duplicates; returns how many initializers were dropped.
int64_t share_identical_initializers(ir::Graph& g);

/// The pass form of share_identical_initializers.
class ShareInitializers final : public Pass {
 public:
  std::string name() const override { return "share-initializers"; }
  std::string run(ir::Model& model) override;
};

}  // namespace scalec::passes
