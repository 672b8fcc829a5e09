#pragma once
// How much of a model a prune run covered: its layers (changed when they gained zeros or lost
// channels), the model's other weight layers with why prune leaves them, and the remaining float
// weights (biases, normalization scales), so shares are of ALL the model's float weights.
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/core/coverage.h"
#include "passes/prune/channel_prune.h"
#include "passes/prune/magnitude_prune.h"

namespace scalec::passes {

/// Unstructured or N:M pruning, from its per-layer table (zeros before and after).
Coverage magnitude_coverage(const ir::Model& model, const std::vector<LayerPruneResult>& layers);

/// Channel pruning, from its report; `original` is the model before pruning.
Coverage channel_coverage(const ir::Model& original, const ChannelPruneReport& report);

/// Fraction of all float weights (DESIGN.md's parameters) that are exactly zero.
double zero_share(const ir::Model& model);

}  // namespace scalec::passes
