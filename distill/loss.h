#pragma once
// Training losses on a model's outputs. Each returns the mean loss over the batch and its
// gradient with respect to the prediction, in the prediction's dtype (float or double).
#include <cstdint>
#include <vector>

#include "ir/tensor.h"

namespace scalec::distill {

/// A loss and its gradient.
struct LossResult {
  double loss = 0;        ///< mean over the batch
  ir::Tensor dprediction; ///< dloss/dprediction, same shape and dtype as the prediction
  int64_t correct = 0;    ///< samples whose argmax equals the label (classification losses)
};

/// Softmax cross-entropy of logits [N, C] against integer labels [N], with label smoothing
/// eps (target = (1 - eps) one-hot + eps / C, as PyTorch's CrossEntropyLoss). Labels outside
/// [0, C) are an Error(kBadInput).
LossResult cross_entropy(const ir::Tensor& logits, const ir::Tensor& labels, double label_smoothing = 0.0);

/// Mean squared error over all elements: mean((p - t)^2).
LossResult mse(const ir::Tensor& prediction, const ir::Tensor& target);

/// Cosine distance per sample, averaged over the batch: mean_i (1 - cos(p_i, t_i)), each sample
/// flattened (axis 0 counts samples). A zero vector has distance 1 and passes no gradient.
LossResult cosine_distance(const ir::Tensor& prediction, const ir::Tensor& target);

/// Knowledge distillation: T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged
/// over the batch (Hinton et al.; the T^2 keeps gradient scale independent of T).
LossResult kl_divergence(const ir::Tensor& student_logits, const ir::Tensor& teacher_logits, double temperature);

/// wa * a + wb * b for loss and gradient; `correct` is b's (the labelled loss of a distillation blend).
LossResult blend(const LossResult& a, double wa, const LossResult& b, double wb);

/// lambda * sum |w| over `weights`; adds lambda * sign(w) to the matching `grads`.
double l1_penalty(const std::vector<const ir::Tensor*>& weights, std::vector<ir::Tensor>& grads, double lambda);

}  // namespace scalec::distill
