#pragma once
// Channel groups for channel pruning: which output channels of which layers must be removed
// together, and every tensor, attribute and shape that changes when they are.
//
// Each prunable producer (Conv with group 1, Gemm, MatMul by a constant [K, N] matrix) starts a raw
// group of channels. Walking the graph in topological order, every value with an axis that indexes
// channels gets a layout: that axis (1 for Conv/Gemm outputs, the last for MatMul outputs such as a
// transformer's [B, T, hidden]) and, for each run of `block` elements along it, the (raw group, index)
// it came from. Pass-through ops (elementwise, pools, BatchNormalization, depthwise Conv) copy the
// layout, Transpose moves its axis, Flatten multiplies the block, Concat joins layouts; Add/Mul/Sum
// of two tracked values unites their
// groups (union-find), so residual channels are removed jointly. An op the walk cannot follow
// marks the groups of its tracked inputs blocked, with the reason.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace scalec::passes::channel {

/// One channel: the raw group it belongs to and its index there.
struct Atom {
  int32_t group = 0;
  int64_t index = 0;
};

/// How axis `axis` of a value is made of channels: atoms[j] owns elements [j*block, (j+1)*block).
struct Layout {
  int64_t block = 1;
  int64_t axis = 1;  ///< the value's axis that indexes channels (non-negative)
  std::vector<Atom> atoms;
};

/// The layer whose output channels form a raw group (node null for a fixed, unprunable source
/// such as a Concat input the walk does not track).
struct Producer {
  ir::Node* node = nullptr;
  int64_t weight_axis = 0;  ///< the weight axis indexing output channels
  int64_t channels = 0;
};

/// "Slice input `slot` of `node` along `axis`, keeping the elements of the kept channels of
/// `channels`' layout" (each channel owning `layout.block` consecutive elements).
struct SliceEdit {
  ir::Node* node = nullptr;
  size_t slot = 0;
  int64_t axis = 0;
  const ir::Value* channels = nullptr;
};

/// A Reshape whose shape input names the flattened channel size: entry 1 becomes the kept size.
struct ReshapeEdit {
  ir::Node* node = nullptr;
  const ir::Value* channels = nullptr;  ///< the Reshape's output (its layout gives the new size)
};

/// Everything the walk found.
struct ChannelGraph {
  std::vector<Producer> producers;    ///< by raw group id
  std::vector<std::string> blocked;   ///< by raw group id: why it cannot be pruned ("" = it can)
  std::unordered_map<const ir::Value*, Layout> layouts;
  std::vector<SliceEdit> slices;
  std::vector<std::pair<ir::Node*, const ir::Value*>> depthwise;  ///< Conv whose group = kept channels of value
  std::vector<ReshapeEdit> reshapes;

  /// The root of raw group g (path-halving union-find).
  int32_t find(int32_t g);
  /// Joins two raw groups.
  void unite(int32_t a, int32_t b);
  /// Records why the groups of `layout` cannot be pruned (the first reason per group wins).
  void block(const Layout& layout, const std::string& reason);

  std::vector<int32_t> parent;
};

/// Walks the main graph of `model`, whose values must carry the types shape inference gives.
ChannelGraph analyze_channels(ir::Model& model);

}  // namespace scalec::passes::channel
