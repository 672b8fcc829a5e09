#pragma once
// Multiply-accumulate counts of the compute-heavy ops (the weight slot table's ops: Conv,
// ConvTranspose, Gemm, MatMul and their integer forms; and LSTM, GRU, RNN), from the shapes a
// model records.
#include <cstdint>
#include <optional>

#include "ir/graph.h"

namespace scalec::kernels {

/// True for the ops node_macs counts.
bool is_mac_op(const ir::Node& node);

/// MACs of one node for the shapes recorded on it. nullopt when the op is not a MAC op or a
/// needed dimension is not a number (symbolic dims are not guessed: see model_macs).
std::optional<int64_t> node_macs(const ir::Node& node);

/// Sum over a graph and its subgraphs (each subgraph counted once).
struct GraphMacs {
  int64_t macs = 0;
  int64_t counted_nodes = 0;  ///< MAC ops whose shapes were known
  int64_t unknown_nodes = 0;  ///< MAC ops skipped for lack of shapes
};
GraphMacs graph_macs(const ir::Graph& graph);

}  // namespace scalec::kernels
