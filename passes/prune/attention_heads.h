#pragma once
// Attention-head pruning for prune-channels: whole heads of a multi-head attention block as
// PyTorch exports nn.MultiheadAttention (ViT, nn.TransformerEncoder) are removed.
//
//   Before: x[T, B, D] -> MatMul W_in[D, 3D] -> Add b[3D] -> 3 Slices of D (q, k, v)
//             -> Reshape [T, B*H, d] (H from a constant, d = D/H) -> Transpose ... scaled dot-product
//             attention over B*H ... -> Reshape [T*B, D] (D from a computed shape) -> Gemm W_out[., D]
//   After:  W_in[D, 3hd], b[3hd], the B*H constant H -> h, the last Reshape's D -> hd, W_out[., hd]
//
// Math: each head attends on its own d columns of q, k, v and writes its own d input columns of
// the output projection; a head whose weights are zero adds nothing, so cutting it changes nothing.
// Heads are ranked by the L1 norm of their q, k, v columns and output-projection columns.
//
// Preconditions: the values inferred shapes give (the caller infers them). A block that does not
// match the pattern exactly (an attention mask, a value read outside the block) is left alone;
// prune-channels then names why its projections stay whole.
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"
#include "passes/prune/channel_prune.h"

namespace scalec::passes {

/// One attention block whose heads were cut.
struct HeadPruneResult {
  const ir::Node* in_proj = nullptr;  ///< the q/k/v MatMul
  std::string weight;                 ///< its weight's name before the cut
  int64_t heads_before = 0, heads_after = 0, head_dim = 0;
  int64_t weight_elements = 0;  ///< W_in's elements before
};

/// What prune_attention_heads changed.
struct HeadPruneReport {
  std::vector<HeadPruneResult> blocks;
  std::vector<const ir::Node*> skipped;     ///< q/k/v MatMuls of blocks kept whole by --skip
  std::unordered_set<ir::Value*> reshaped;  ///< values whose shape changed (their recorded types go stale)
  std::vector<ir::Value*> detached;         ///< initializers no longer read (still owned by the graph)
};

/// Cuts the lowest-L1 heads of each attention block (options.ratio of them, overrides and skip by
/// the q/k/v MatMul's name or weight); shapes must be inferred.
HeadPruneReport prune_attention_heads(ir::Model& model, const ChannelPruneOptions& options);

}  // namespace scalec::passes
