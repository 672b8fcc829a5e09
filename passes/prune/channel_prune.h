#pragma once
// prune-channels: removes whole output channels of Conv layers (and hidden units of Gemm and
// MatMul layers), ranked by the L1 norm of their weights, so the model truly gets fewer parameters
// and MACs.
//
//   Before: Conv W[K, C, kh, kw] -> BN(K) -> Relu -> Conv W'[K2, K, ...]
//   After:  Conv W[k, C, kh, kw] -> BN(k) -> Relu -> Conv W'[K2, k, ...]     (k = kept channels)
//   Before: x[B, T, D] -> MatMul W1[D, H] -> Add b1[H] -> GELU -> MatMul W2[H, D]   (transformer MLP)
//   After:  x[B, T, D] -> MatMul W1[D, h] -> Add b1[h] -> GELU -> MatMul W2[h, D]
// Whole attention heads go first, by their own pattern (attention_heads.h).
//
// Channel c of a producer is removed with its bias entry, its BatchNormalization parameters, its
// entry in per-channel constants of elementwise ops, the same channel of following depthwise
// Convs (weight, bias and group count), and the columns that read it in the next Conv, Gemm or
// MatMul (H*W columns per channel after Flatten of [C, H, W]); Concat shifts later inputs'
// offsets. Channels joined by Add/Sum/Mul of two tensors (residuals, gates) form one group,
// ranked by the L1 norm summed over all its producers and removed jointly.
//
// Math: when a removed channel is exactly zero at every consumer (zero weights, zero bias, BN
// beta - gamma*mean/sqrt(var+eps) = 0, or an activation that maps it to 0), outputs are unchanged.
//
// Preconditions: none; a group the pass cannot follow everywhere (a graph output, a Reshape,
// Softmax or LayerNormalization that mixes channels, a grouped Conv, an unsupported op, a
// non-constant weight) is left whole and listed in the report with the reason. Recorded value
// types are updated.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/core/pass.h"

namespace scalec::passes {

/// How many channels to remove, and where.
struct ChannelPruneOptions {
  double ratio = 0.5;  ///< fraction of the output channels removed from each prunable group
  /// Ratio per layer, by producer node name or weight initializer name; a group whose layers have
  /// several uses the smallest. 0 leaves the group whole.
  std::map<std::string, double> overrides;
  std::vector<std::string> skip;  ///< globs of node or weight names whose groups stay whole
  /// Kept channel counts are rounded up to a multiple of this; kRoundAuto: multiples of 8 where a
  /// group keeps at least 32 channels, no rounding below (the vector widths ONNX Runtime's x86
  /// kernels and tensor cores work in; see round_kept_channels).
  int64_t round_to = kRoundAuto;
  static constexpr int64_t kRoundAuto = 0;
};

/// `keep` channels of `channels` rounded up as `round_to` says (ChannelPruneOptions::round_to).
int64_t round_kept_channels(int64_t keep, int64_t channels, int64_t round_to);

/// One producer layer (Conv, Gemm, MatMul; or a depthwise Conv, which follows its input's group)
/// and what happened to its output channels.
struct ChannelPruneLayer {
  std::string name;    ///< node name (or the weight's name when the node has none)
  std::string op;      ///< "Conv", "Gemm" or "MatMul"
  std::string weight;  ///< weight initializer name
  int group = 0;       ///< layers with the same group were pruned jointly (residual ties)
  int64_t channels_before = 0;
  int64_t channels_after = 0;
  std::string reason;  ///< why the channels were kept whole ("" when pruned or ratio gave 0)
  std::string kind;    ///< the reason without this case's names and numbers (coverage groups by it)
  int64_t weight_elements = 0;  ///< the weight's elements before pruning
};

/// What prune_channels did.
struct ChannelPruneReport {
  std::vector<ChannelPruneLayer> layers;  ///< in topological order
  int64_t groups = 0;                     ///< channel groups found
  int64_t groups_pruned = 0;              ///< groups that lost channels
  int64_t params_before = 0, params_after = 0;  ///< DESIGN.md parameters (float initializer elements)
  /// Per sample (kernels::model_macs: the batch counts as 1); nullopt when other dims are unknown.
  std::optional<int64_t> macs_before, macs_after;
  /// "prune-channels: 5 of 8 groups pruned; parameters 11.7M -> 3.0M; MACs 1.82G -> 0.48G".
  std::string summary() const;
};

/// Removes the lowest-L1 output channels of every prunable channel group and carries the change
/// through the graph; throws Error(kBadInput) for options out of range, Error(kInternal) if the
/// result would not verify.
ChannelPruneReport prune_channels(ir::Model& model, const ChannelPruneOptions& options);

/// The pass form of prune_channels.
class ChannelPrune final : public Pass {
 public:
  explicit ChannelPrune(ChannelPruneOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "prune-channels"; }
  /// sparsity=R;round-to=auto|N;layer-sparsity=NAME=R,...;skip=GLOB,...
  std::string options_text() const override;
  std::string run(ir::Model& model) override;
  const ChannelPruneReport& report() const { return report_; }

 private:
  ChannelPruneOptions options_;
  ChannelPruneReport report_;
};

}  // namespace scalec::passes
