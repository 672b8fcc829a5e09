#pragma once
// Trainer: fine-tunes a model's float initializers in place on the ONNX graph itself — training
// forward (Executor), backward (Autodiff), loss, optimizer and schedule — with seeded shuffling,
// so the same seed and thread count give bitwise-identical weights.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "distill/loss.h"
#include "distill/optimizer.h"
#include "distill/schedule.h"
#include "ir/graph.h"
#include "kernels/exec/executor.h"
#include "passes/core/coverage.h"

namespace scalec::kernels {
class Autodiff;
namespace comm {
class Communicator;
}
}

namespace scalec::distill {

/// Training or validation data: a sample count and functions that cut rows (in the order given)
/// into model feeds and integer labels.
struct TrainingData {
  int64_t samples = 0;
  std::function<kernels::NamedTensors(std::span<const int64_t> rows)> feeds;
  std::function<ir::Tensor(std::span<const int64_t> rows)> labels;
  /// Stored teacher logits [rows, classes] (a --cache-teacher): when set, the teacher does not run.
  std::function<ir::Tensor(std::span<const int64_t> rows)> teacher_logits;
};

/// How to train.
struct TrainerOptions {
  int64_t batch = 32;
  uint64_t seed = 0;
  int threads = 0;
  std::string device = "cpu";  ///< where the model trains: only "cpu" until the CUDA backend lands
  OptimizerOptions optimizer;
  ScheduleOptions schedule;          ///< total_steps is the whole run's step count (cosine)
  double label_smoothing = 0.0;
  double l1 = 0.0;                   ///< lambda of lambda * sum |W| over trained weights of rank >= 2
  std::vector<std::string> freeze;   ///< glob patterns (*, ?) of initializer names kept fixed
  std::string output;                ///< graph output holding the logits; "" = the first
  /// Knowledge distillation: with a teacher, the loss is
  /// alpha * T^2 KL(teacher_T || student_T) + (1 - alpha) * cross-entropy (Hinton et al.).
  const ir::Model* teacher = nullptr;  ///< must outlive the Trainer; same inputs, logits of the same shape
  double temperature = 4.0;
  double distill_alpha = 0.5;
  bool kd_t2 = true;           ///< false: drop the T^2 factor (as some tools do)
  std::string teacher_output;  ///< the teacher's logits; "" = its output named like the student's, else its first
  /// Feature hints (distill/hints.h): each adds hint_weight * loss(student graph output, teacher value),
  /// loss "mse" (mean over elements) or "cosine" (1 - cos per sample, mean over the batch).
  struct Hint {
    std::string student_output, teacher_value;
  };
  std::vector<Hint> hints;
  std::string hint_loss = "mse";
  double hint_weight = 1.0;
  /// Initializers trained with the model that are not part of it (hint projections): left out of coverage().
  std::vector<std::string> auxiliary;
  /// Float initializers that hold constants of a training-time rewrite (the epsilon of a BatchNorm in
  /// fake-quant form): never trained, not counted.
  std::vector<std::string> constants;
  /// Data parallel: the ranks training together (nullptr or one rank: alone). Each rank takes its
  /// share of every global batch of `batch` samples; gradients, loss and accuracy are summed over
  /// the ranks, so the run equals one process with the same global batch (within fp32 rounding).
  kernels::comm::Communicator* comm = nullptr;
  int64_t check_replicas = 0;  ///< every N steps, compare a hash of the weights across ranks (0: never)
  /// Data parallel: BatchNormalization normalizes with each rank's own batch statistics (faster, as
  /// DDP does without SyncBatchNorm; running statistics are averaged over the ranks after each step)
  /// instead of the global batch's (the default: the same as one process).
  bool local_bn = false;
};

/// One epoch's numbers.
struct EpochStats {
  int64_t epoch = 0;
  double loss = 0, accuracy = 0;      ///< training, averaged over samples
  std::optional<double> hint_loss;    ///< with feature hints: their weighted share of `loss`
  double seconds = 0, samples_per_second = 0;
  double comm_wait_seconds = 0;       ///< data parallel: time blocked in gradient all-reduces
  int64_t skipped_samples = 0;        ///< data parallel, synchronized BatchNorm: a last batch smaller than the ranks
  std::optional<double> val_loss, val_accuracy;
};

/// Loss and accuracy over a data set.
struct EvalStats {
  double loss = 0, accuracy = 0;
};

class GradientReducer;

/// Trains `model`'s parameters in place. The model must outlive the trainer.
class Trainer {
 public:
  Trainer(ir::Model& model, TrainerOptions options);
  ~Trainer();

  /// Initializers being trained, in graph order.
  const std::vector<ir::Value*>& parameters() const { return params_; }
  /// BatchNormalization running statistics updated from batch statistics.
  const std::vector<ir::Value*>& running_stats() const { return stats_; }
  /// The float weight tensors trained, and why the others are not (frozen, no gradient, ...).
  const passes::Coverage& coverage() const { return coverage_; }

  /// Fixes pruning masks (weight name -> 0/1 tensor of the weight's shape): masked weights are zeroed
  /// now and after every update, so they stay zero through training. Replaces earlier masks.
  void set_masks(std::map<std::string, ir::Tensor> masks);
  /// Adds a call before every optimizer step with the step's index (gradual pruning updates masks
  /// here); hooks run in the order added.
  void add_step_hook(std::function<void(int64_t step)> hook) { step_hooks_.push_back(std::move(hook)); }
  /// Rebuilds the forward and backward plans after the graph changed around the same parameters and
  /// statistics (quantization-aware training freezing its BatchNorms); taps are kept.
  void rebuild();
  /// Observes `value` (a node output) in every training forward (quantization-aware training
  /// follows activation ranges with it).
  void add_tap(const ir::Value* value, kernels::Executor::Tap tap);

  /// One optimizer step on a batch; returns its loss (before the update). `teacher_logits`, when
  /// given, stands in for running the teacher on `feeds`.
  LossResult train_step(const kernels::NamedTensors& feeds, const ir::Tensor& labels,
                        const ir::Tensor* teacher_logits = nullptr);
  /// One data-parallel step: this rank's `rows` of a global batch of `global_rows` samples (rows may be
  /// empty when the global batch has fewer samples than ranks). Returns the global loss and correct count.
  LossResult train_step_shard(const TrainingData& data, std::span<const int64_t> rows, int64_t global_rows);
  /// One epoch over `data`, shuffled with (seed, epoch).
  EpochStats train_epoch(const TrainingData& data, int64_t epoch);
  /// Loss and top-1 accuracy in inference mode.
  EvalStats evaluate(const TrainingData& data);
  /// Optimizer steps taken so far.
  int64_t step() const;
  /// Samples per step.
  int64_t batch() const { return o_.batch; }

  /// Everything a resumed run needs besides the model: optimizer state, "param/<name>" and
  /// "stat/<name>" copies of the trained tensors, "meta/step".
  std::vector<std::pair<std::string, ir::Tensor>> checkpoint() const;
  /// Restores what checkpoint() returned (into the model and optimizer); Error(kBadInput) when it
  /// does not fit this model.
  void restore(const std::vector<std::pair<std::string, ir::Tensor>>& state);

 private:
  const ir::Value* logits_value() const;
  ir::Model& model_;
  TrainerOptions o_;
  std::vector<ir::Value*> params_, stats_;
  passes::Coverage coverage_{"weight tensor"};
  std::unique_ptr<kernels::Executor> train_exec_, eval_exec_;
  std::unique_ptr<kernels::Autodiff> autodiff_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<kernels::Executor> teacher_exec_;
  std::vector<ir::Tensor> teacher_hints_;  // the teacher's hint values of the current step (taps)
  double last_hint_loss_ = 0;
  std::map<std::string, ir::Tensor> masks_;
  std::vector<std::function<void(int64_t)>> step_hooks_;
  std::vector<std::pair<const ir::Value*, kernels::Executor::Tap>> taps_;  // re-added by rebuild()
  void build_plans();
  std::unique_ptr<GradientReducer> reducer_;
  int ranks() const;
  LossResult step_impl(const kernels::NamedTensors* feeds, const ir::Tensor* labels, const ir::Tensor* teacher_logits,
                       int64_t local_rows, int64_t global_rows);
  void apply_masks();
  void check_replicas();
};

/// The rows 0..n-1 in the order epoch `epoch` of a run seeded `seed` visits them (Fisher-Yates on
/// a 64-bit Mersenne Twister; the same on every platform).
std::vector<int64_t> shuffled_rows(int64_t n, uint64_t seed, int64_t epoch);

/// Rank `rank`'s share [first, first + count) of `n` samples split over `ranks` in rank order, as
/// evenly as possible (the first n % ranks ranks take one more).
std::pair<int64_t, int64_t> rank_share(int64_t n, int rank, int ranks);

}  // namespace scalec::distill
