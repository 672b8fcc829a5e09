#pragma once
// Quantization-aware training: how the scales of a training-form model (FakeQuantize nodes,
// passes/quantize/fake_quant_graph.h) move while the Trainer trains its weights.
//   - Activation ranges start from calibration and follow an exponential moving average of each
//     batch's min/max (decay 0.99) until `freeze_ranges_after` steps; a pair's scale and zero point
//     come from the union of its group's ranges, as quantize-qdq computes them. The batches are
//     observed where each FakeQuantize reads them, before quantization: a value computed from
//     fake-quantized inputs (the Relu after a pair, the MaxPool sharing its scale) never exceeds the
//     range it was quantized with, so its own min/max could never widen the range. A pair that
//     quantize-qdq calibrates through the Relu or ReLU6 Clip after it takes that clamp of its range.
//   - Weight scales follow the weights: before every step each weight is quantized as quantize-qdq
//     would (per-channel max at k bits) and its FakeQuantize takes that scale and zero point.
//   - With `learn_scales` both are instead trained by the optimizer (LSQ gradients, FakeQuantize lsq=1)
//     and only kept positive.
#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calibration/calibrator.h"
#include "distill/trainer.h"
#include "passes/quantize/fake_quant_graph.h"
#include "passes/quantize/qdq_plan.h"

namespace scalec::kernels::comm {
class Communicator;
}

namespace scalec::distill {

/// How the scales move.
struct QatScaleOptions {
  bool learn_scales = false;
  int64_t freeze_ranges_after = 0;  ///< steps after which activation ranges stop following the batches
  double ema_decay = 0.99;          ///< range = decay * range + (1 - decay) * batch range
  passes::QdqOptions qdq;           ///< what quantize-qdq ran with (weight bits, activation symmetry)
  /// Data-parallel ranks: each step's batch ranges are the min/max over every rank's share, so the
  /// ranges (and scales) stay equal on every rank and equal one process's (nullptr: one process).
  kernels::comm::Communicator* comm = nullptr;
  /// The float weight a FakeQuantize quantizes when it is computed rather than stored (a Conv with its
  /// BatchNorm in fake-quant form: W * gamma / sigma); nullopt: the FakeQuantize's initializer.
  std::function<std::optional<ir::Tensor>(const passes::FakeQuantWeight&)> weight_of;
};

/// Drives the scales of one training-form model (see the file comment). The model, graph and
/// trainer must outlive it.
class QatScales {
 public:
  /// `groups`: qdq_range_groups of the float model; `start`: its calibrated ranges.
  QatScales(ir::Model& model, const passes::FakeQuantGraph& fq, std::map<std::string, std::vector<std::string>> groups,
            std::map<std::string, calibration::Range> start, QatScaleOptions options);

  /// The scale initializers the optimizer must leave alone (all, unless learn_scales): names for
  /// TrainerOptions::freeze.
  std::vector<std::string> fixed_scales() const;
  /// Taps the trainer's forward for the ranges and sets its step hook; returns `data` with its
  /// feeds observed (ranges of graph inputs). Both must outlive the training.
  TrainingData attach(Trainer& trainer, const TrainingData& data);
  /// Steps whose batch ranges moved the averages so far.
  int64_t range_updates() const { return updates_; }
  /// The activation ranges now, by the name of the value each pair quantizes.
  const std::map<std::string, calibration::Range>& ranges() const { return ranges_; }

 private:
  void observe(const std::string& name, const ir::Tensor& t);
  void on_step(int64_t step);
  void set_activation_scales();
  void set_weight_scales();

  ir::Model& model_;
  const passes::FakeQuantGraph& fq_;
  std::map<std::string, std::vector<std::string>> groups_;  ///< pair value -> calibrated values of its group
  std::map<std::string, calibration::Range> ranges_, pending_;  ///< by pair value
  std::map<std::string, const ir::Node*> clamp_;  ///< pair value -> the Relu / Clip whose range it takes
  QatScaleOptions o_;
  std::set<std::string> input_names_;  ///< pair values that are graph inputs (observed in the feeds)
  int64_t updates_ = 0;
};

}  // namespace scalec::distill
