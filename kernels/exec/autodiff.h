#pragma once
// Autodiff: reverse-mode gradients over the tape of an Executor training run. Each node's rule
// (OpDef::backward) maps output gradients to input gradients; where a value feeds several nodes
// their gradients are summed. Shape-only and integer paths carry no gradient.
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/exec/executor.h"

namespace scalec::kernels {

/// Gradients of a loss with respect to chosen values (parameters or graph inputs).
class Autodiff {
 public:
  /// `wrt`: values of the model's main graph to differentiate for. Throws Error(kBadInput) naming
  /// the node when a float path from them to a graph output runs through an op without a
  /// backward rule.
  Autodiff(const ir::Model& model, std::vector<const ir::Value*> wrt);

  /// Backpropagates `doutputs` (the loss gradient for graph outputs, by name; outputs not named get
  /// none) through `forward`'s last training run. Returns one gradient per `wrt` value, in order;
  /// an empty Tensor() where none reaches it (no path, or only through non-differentiable inputs
  /// such as Resize's scales).
  /// `on_ready(k, grad)`, when given, is called as soon as wrt value k's gradient is complete (its
  /// last consumer has been differentiated), while backward goes on: data-parallel training starts
  /// that gradient's all-reduce there (wrt values no gradient reaches are not reported).
  std::vector<ir::Tensor> backward(Executor& forward, const NamedTensors& doutputs,
                                   const std::function<void(size_t, const ir::Tensor&)>& on_ready = {}) const;

  /// True when `v` depends on a wrt value through float tensors (it may carry a gradient).
  bool carries_gradient(const ir::Value* v) const;

 private:
  const ir::Model& model_;
  std::vector<const ir::Value*> wrt_;
  std::vector<const ir::Value*> differentiable_;  // sorted, for binary search
};

/// Element types a gradient can flow through.
bool is_differentiable_type(ir::DType t);

}  // namespace scalec::kernels
