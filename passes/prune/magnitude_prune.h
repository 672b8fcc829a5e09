#pragma once
// L1 magnitude pruning: zero the weights of smallest |w|, either unstructured (per layer or with one
// global threshold) or in N:M groups along the axis a layer sums over (2:4 is what sparse tensor
// cores run). Masks are computed apart from applying them so training can keep them fixed.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/core/pass.h"

namespace scalec::passes {

/// How to choose the weights to zero.
struct MagnitudePruneOptions {
  double sparsity = 0.5;          ///< fraction of each pruned layer's weights zeroed (unstructured)
  bool global = false;            ///< one threshold over all pruned layers instead of one per layer
  int n = 0, m = 0;               ///< N:M (keep n of every m along the summed axis) when m > 0
  std::map<std::string, double> overrides;  ///< sparsity per layer or weight name (wins over global)
  std::vector<std::string> skip;  ///< globs of layer or weight names left dense
  bool prune_first = false;       ///< the first layer (reads the raw input) is left dense unless set
  bool prune_last = false;        ///< the last layer (writes the logits) is left dense unless set
};

/// What happened to one prunable layer.
struct LayerPruneResult {
  std::string layer, op, weight;
  int64_t elements = 0, zeros_before = 0, zeros_after = 0;
  double target = 0;     ///< sparsity asked for (0 when left dense)
  std::string note;      ///< why a layer was left dense ("first layer", "--skip", ...); empty when pruned
  std::string reason;    ///< the note without this layer's numbers, shared by layers (coverage groups by it)
};

/// Masks (1 keep, 0 pruned; the weight's shape and dtype) keyed by weight name, and the per-layer table.
struct MagnitudePruneResult {
  std::map<std::string, ir::Tensor> masks;
  std::vector<LayerPruneResult> layers;
};

/// Parses "2:4" into n = 2, m = 4; Error(kBadInput) unless 0 < n < m.
void parse_n_m(const std::string& text, int& n, int& m);

/// Computes masks from the model's current weights; does not change the model. Weights already
/// zero count as pruned first, so re-running at the same sparsity keeps the same mask.
MagnitudePruneResult magnitude_masks(const ir::Model& model, const MagnitudePruneOptions& options);

/// Multiplies every masked weight by its mask.
void apply_masks(ir::Model& model, const std::map<std::string, ir::Tensor>& masks);

/// Fraction of zero elements over all prunable weights, and over each layer in `result`.
double overall_sparsity(const std::vector<LayerPruneResult>& layers);

/// The pass: computes masks and applies them.
class MagnitudePrune final : public Pass {
 public:
  explicit MagnitudePrune(MagnitudePruneOptions options) : options_(std::move(options)) {}
  std::string name() const override { return options_.m > 0 ? "prune-n-m" : "prune-magnitude"; }
  std::string options_text() const override;
  std::string run(ir::Model& model) override;
  const MagnitudePruneResult& result() const { return result_; }

 private:
  MagnitudePruneOptions options_;
  MagnitudePruneResult result_;
};

}  // namespace scalec::passes
