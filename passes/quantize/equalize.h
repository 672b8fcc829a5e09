#pragma once
// equalize: cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction") for Conv -> [Relu | Clip(0, m)] -> Conv chains, typical of
// depthwise-separable nets whose per-channel weight ranges differ by orders of magnitude.
//
//   Before: y = W2 f(W1 x + b1)
//   After:  y = (W2 S) f((S^-1 W1) x + S^-1 b1),   S = diag(s),  s_i = sqrt(r1_i / r2_i)
//
// r1_i = max |W1[i, ...]| (output channel i of the first Conv), r2_i = max |W2[:, i, ...]| (the
// weights of the second Conv reading channel i; for a grouped Conv only its group's outputs).
// After scaling both ranges are sqrt(r1_i r2_i), so one per-tensor scale fits every channel
// better. f(x / s) = f(x) / s needs f positively homogeneous: Relu and no activation are;
// Clip(0, m) (ReLU6) is not, so it becomes Relu -> Min(m / s_i per channel), which keeps the
// float outputs exactly (the paper replaces ReLU6 by ReLU, which changes them). Other Clips stop
// the pair. Pairs sharing a Conv (Conv -> dw Conv -> Conv) are iterated until s stays within
// 1e-6 of 1 (at most 100 rounds).
// Preconditions: both weights and the first bias are constant float initializers used only by
// these nodes; the intermediate values have no other consumer and are not graph outputs.
#include <set>
#include <string>

#include "passes/core/pass.h"

namespace scalec::passes {

/// Cross-layer equalization of Conv -> [Relu | Clip] -> Conv pairs (see the file comment).
class CrossLayerEqualization final : public Pass {
 public:
  explicit CrossLayerEqualization(std::set<std::string> exclude_nodes = {}) : exclude_nodes_(std::move(exclude_nodes)) {}
  std::string name() const override { return "equalize"; }
  std::string options_text() const override;
  std::string run(ir::Model& model) override;

 private:
  std::set<std::string> exclude_nodes_;
};

}  // namespace scalec::passes
