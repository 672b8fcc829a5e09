#pragma once
// BatchNormalization in fake-quant form, for quantization-aware training (Krishnamoorthi 2018,
// section 3.2; PyTorch's ConvBn2d). fold-batchnorm folds each Conv -> BatchNormalization pair before
// quantize-qdq, so the int8 weights carry the BN scale. For training, the folded pair is unfolded again
// (W, b, gamma and beta train; the running statistics follow the batches):
//
//   sf = gamma / sqrt(running_var + eps)                    (per output channel)
//   x -> Conv(x, FakeQuantize(W * sf)) / sf [+ b] -> BatchNormalization(gamma, beta, running stats) -> y
//
// The weights are quantized as the folded model will be while the output is normalized with batch
// statistics, as in float training. freeze() then fixes the statistics: the layer becomes what the
// export computes, with the fold still a function of the trained tensors,
//
//   x -> Conv(x, FakeQuantize(W * sf), FakeQuantize((b - mean) * sf + beta)) -> y
//
// and refold() stores W * sf and (b - mean) * sf + beta, computed as the graph computes them, in the
// FakeQuantGraph form (same nodes and names) for fake_quant_to_qdq.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/quantize/fake_quant_graph.h"

namespace scalec::passes {

/// A Conv -> BatchNormalization pair as it was before fold-batchnorm.
struct ConvBnPair {
  const ir::Node* conv = nullptr;
  const ir::Node* batch_norm = nullptr;  ///< compared, never dereferenced once folding ran
  std::string weight_name, bias_name, bn_name;  ///< bias_name empty when the Conv had none
  ir::Tensor weight, bias, gamma, beta, mean, var;
  float epsilon = 1e-5f, momentum = 0.9f;
};

/// The Conv -> BatchNormalization pairs of `model` with float weights and statistics, BN the Conv
/// output's only reader: those fold-batchnorm may fold. Call before it runs.
std::vector<ConvBnPair> record_conv_bn_pairs(const ir::Model& model);

/// The training form of the pairs fold-batchnorm folded and quantize-qdq quantized (see the file
/// comment). Pairs it did not fold, layers left float, and channels with gamma near 0 (the unfold
/// divides by it) stay folded.
class BatchNormFakeQuant {
 public:
  /// Rewrites `model` (a training form from qdq_to_fake_quant) in place; `fq` is updated by refold().
  BatchNormFakeQuant(ir::Model& model, FakeQuantGraph& fq, const std::vector<ConvBnPair>& pairs);
  ~BatchNormFakeQuant();

  /// Pairs in fake-quant form.
  size_t size() const;
  /// Fixes the running statistics (see the file comment); the Trainer must rebuild() after it.
  void freeze();
  bool frozen() const { return frozen_; }
  /// Initializers of the rewrite that hold constants (each pair's epsilon): never trained.
  std::vector<std::string> constants() const;
  /// The weight `w` quantizes now: W * sf for an unfolded layer (computed as the graph does), else
  /// null (its FakeQuantize reads an initializer).
  std::optional<ir::Tensor> folded_weight(const FakeQuantWeight& w) const;
  /// The trained initializer behind `w` (W of an unfolded layer, else the FakeQuantize's input).
  ir::Value* trained_weight(const FakeQuantWeight& w) const;
  /// Folds the trained pairs back into the FakeQuantGraph form.
  void refold();

 private:
  struct Unfolded;
  ir::Model& model_;
  FakeQuantGraph& fq_;
  std::vector<std::unique_ptr<Unfolded>> unfolded_;
  bool frozen_ = false;
};

}  // namespace scalec::passes
