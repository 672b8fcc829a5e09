#pragma once
// Layers inside If/Loop/Scan bodies. The quantize passes rewrite the main graph only, so such a layer
// stays float; it still counts in the coverage, as left float with its reason, so a model whose
// weights sit in subgraphs is never reported as fully quantized.
#include <set>
#include <string>

#include "ir/graph.h"
#include "passes/core/coverage.h"

namespace scalec::passes::quant {

/// Adds to `coverage`, as left float, every Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU and RNN with
/// float weights inside the subgraphs of `model` (nested ones too); with `only_ops` not empty, only
/// those ops. Returns how many it added.
int64_t add_subgraph_layers(const ir::Model& model, const std::set<std::string>& only_ops, Coverage& coverage);

}  // namespace scalec::passes::quant
