#pragma once
// Gradual magnitude pruning during training (Zhu & Gupta, "To prune, or not to prune", 2017):
// sparsity rises from `initial` to `final` along a cubic polynomial decay, the masks are recomputed
// from the current weights every `frequency` steps, and between updates the Trainer keeps them fixed.
#include <cstdint>
#include <map>
#include <string>

#include "distill/trainer.h"
#include "passes/prune/magnitude_prune.h"

namespace scalec::distill {

/// When and how far to prune.
struct SparsitySchedule {
  double initial = 0.0, final = 0.5;
  int64_t begin_step = 0, end_step = 0;  ///< end_step <= begin_step prunes to `final` at begin_step at once
  int64_t frequency = 100;               ///< steps between mask updates
};

/// s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^3 at the last update step <= `step`; 0 before begin_step,
/// `final` from end_step on.
double sparsity_at(const SparsitySchedule& s, int64_t step);

/// True when the masks are recomputed before `step`.
bool is_update_step(const SparsitySchedule& s, int64_t step);

/// Drives a Trainer's masks through a schedule; install with Trainer::add_step_hook.
class GradualPruner {
 public:
  /// `options` give the final per-layer targets (overrides scale with the schedule); N:M patterns
  /// are applied once at begin_step and then kept.
  GradualPruner(Trainer& trainer, const ir::Model& model, passes::MagnitudePruneOptions options, SparsitySchedule schedule);
  /// Recomputes and installs the masks when `step` is an update step.
  void on_step(int64_t step);
  /// A resumed run that has taken `steps_done` steps: installs the checkpoint's `masks` (those of the
  /// last update) and rebuilds that update's per-layer table.
  void resume(int64_t steps_done, std::map<std::string, ir::Tensor> masks);
  /// The masks' per-layer table after the last update (empty before the first).
  const passes::MagnitudePruneResult& last() const { return last_; }
  double current_sparsity() const { return current_; }

 private:
  Trainer& trainer_;
  const ir::Model& model_;
  passes::MagnitudePruneOptions options_;
  SparsitySchedule schedule_;
  passes::MagnitudePruneResult last_;
  double current_ = 0.0;
};

}  // namespace scalec::distill
