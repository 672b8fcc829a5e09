#pragma once
// Multiply-accumulate counts of the compute-heavy ops, from the shapes a model records.
#include <cstdint>
#include <optional>

#include "ir/graph.h"

namespace scalec::kernels {

/// MACs of one node per sample: symbolic dimensions (the batch) count as 1. nullopt when the
/// op is not a MAC op or a needed shape is not recorded.
std::optional<int64_t> node_macs(const ir::Node& node);

/// Sum over a graph and its subgraphs (each subgraph counted once).
struct GraphMacs {
  int64_t macs = 0;
  int64_t counted_nodes = 0;  ///< MAC ops whose shapes were known
  int64_t unknown_nodes = 0;  ///< MAC ops skipped for lack of shapes
};
GraphMacs graph_macs(const ir::Graph& graph);

}  // namespace scalec::kernels
