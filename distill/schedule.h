#pragma once
// Learning-rate schedules by optimizer step: constant, step decay, cosine, each with an optional
// linear warm-up.
#include <cstdint>
#include <string>

namespace scalec::distill {

/// A schedule's settings.
struct ScheduleOptions {
  std::string kind = "constant";  ///< constant, step, cosine
  double base_lr = 0.01;
  int64_t warmup_steps = 0;       ///< lr rises linearly from base_lr / warmup_steps to base_lr
  int64_t step_size = 1;          ///< step: multiply by gamma every step_size steps (after warm-up)
  double gamma = 0.1;
  int64_t total_steps = 1;        ///< cosine: reaches min_lr here
  double min_lr = 0.0;
};

/// The learning rate for optimizer step `step` (0-based). Error(kBadInput) for bad settings.
double learning_rate(const ScheduleOptions& s, int64_t step);

/// Checks the settings once, before training starts.
void check_schedule(const ScheduleOptions& s);

}  // namespace scalec::distill
