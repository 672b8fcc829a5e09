#pragma once
// The weights pruning acts on: float initializers of rank >= 2 that Conv, ConvTranspose, Gemm and
// MatMul multiply with activations, with the axis their products sum over (for N:M groups).
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
};

/// True for the float layer ops pruning handles: Conv, ConvTranspose, Gemm, MatMul (default domain).
bool is_float_layer(const ir::Node& n);

/// Prunable weights of the main graph, in topological order of their layers. A weight shared by
/// several layers is listed once, with its first user.
std::vector<PrunableWeight> prunable_weights(const ir::Model& model);

}  // namespace scalec::passes
