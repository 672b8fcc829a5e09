#pragma once
// The weights pruning acts on: float initializers of rank >= 2 that Conv, ConvTranspose, Gemm and
// MatMul multiply with activations, and the W and R of LSTM, GRU and RNN ([D, G*H, I] and
// [D, G*H, H]), with the axis their products sum over (for N:M groups).
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::passes {

/// One prunable weight and the layer that uses it.
struct PrunableWeight {
  ir::Value* weight = nullptr;
  const ir::Node* node = nullptr;
  std::string layer;             ///< the node's name, or the weight's when the node has none
  int64_t reduction_axis = 1;    ///< the axis the layer sums over (input channels, or K)
  /// Recurrent W/R: rows per gate block (H); unstructured sparsity is met in each block of each
  /// direction, so that no gate loses more than its share. 0 for the other layers.
  int64_t gate_rows = 0;
};

/// True for the float layer ops pruning handles: Conv, ConvTranspose, Gemm, MatMul (default domain).
bool is_float_layer(const ir::Node& n);

/// True for the default-domain LSTM, GRU and RNN nodes.
bool is_recurrent_layer(const ir::Node& n);

/// Prunable weights of the main graph, in topological order of their layers (a recurrent node's
/// W, then R, both under the node's name). A weight shared by several layers is listed once, with its first user.
std::vector<PrunableWeight> prunable_weights(const ir::Model& model);

}  // namespace scalec::passes
