#pragma once
// fold-batchnorm: an inference BatchNormalization right after a Conv, ConvTranspose or Gemm is
// folded into that node's weight and bias (done before quantizing, so the int8 weights carry BN).
//
//   Before: x -> Conv(W, B) -> t -> BatchNormalization(gamma, beta, mean, var, eps) -> y
//   After:  x -> Conv(W', B') -> y
//
//   s = gamma / sqrt(var + eps) per output channel;  W' = W * s (along the output-channel axis);
//   B' = (B - mean) * s + beta  (B = 0 when absent).  Gemm (Y = alpha A B + beta_g C) scales the
//   output-feature axis of B and takes C' = (beta_g C - mean) * s + beta with beta_g set to 1.
//
// Preconditions: BN in inference mode (training_mode 0, only output 0 used); W, B/C and the four
// BN tensors are float initializers; t has no other consumer and is not a graph output; the
// BN channel axis (1) is the node's output-channel axis (always so for Conv; Gemm output is 2-D).
// Shared weights are copied, not edited in place.
#include "passes/core/pass.h"

namespace scalec::passes {

/// Folds inference BatchNormalization into the preceding Conv, ConvTranspose or Gemm.
class FoldBatchNorm final : public Pass {
 public:
  std::string name() const override { return "fold-batchnorm"; }
  std::string run(ir::Model& model) override;
};

}  // namespace scalec::passes
