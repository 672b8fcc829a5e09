#pragma once
// Optimizers with PyTorch's update rules (torch.optim.SGD, torch.optim.AdamW), so a run here and
// one in PyTorch from the same weights and data follow the same trajectory. Arithmetic is in the
// parameter's own type, as PyTorch does.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ir/tensor.h"

namespace scalec::distill {

/// Settings of both optimizers (each reads its own).
struct OptimizerOptions {
  std::string kind = "sgd";  ///< "sgd" or "adamw"
  double momentum = 0.0;     ///< SGD
  bool nesterov = false;     ///< SGD (needs momentum > 0)
  double weight_decay = 0.0; ///< SGD: L2 added to the gradient; AdamW: decoupled, w -= lr * wd * w
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  ///< AdamW
};

/// Updates parameters from their gradients; keeps per-parameter state (momentum, moments).
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// One step at learning rate `lr`: params[i] is updated in place from grads[i].
  virtual void step(const std::vector<ir::Tensor*>& params, const std::vector<ir::Tensor>& grads, double lr) = 0;
  /// The state to checkpoint, as named tensors ("<index>/<slot>"), plus the step count.
  virtual std::vector<std::pair<std::string, ir::Tensor>> state() const = 0;
  /// Restores what state() returned.
  virtual void load_state(const std::vector<std::pair<std::string, ir::Tensor>>& state) = 0;
  int64_t steps() const { return steps_; }

 protected:
  int64_t steps_ = 0;
};

/// The optimizer `options.kind` names; Error(kBadInput) for an unknown kind or bad settings.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options);

}  // namespace scalec::distill
