#include "distill/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ir/error.h"

namespace scalec::distill {

void check_schedule(const ScheduleOptions& s) {
  if (s.kind != "constant" && s.kind != "step" && s.kind != "cosine") {
    throw_bad_input("unknown learning-rate schedule '{}' (constant, step, cosine)", s.kind);
  }
  if (!(s.base_lr > 0) || !std::isfinite(s.base_lr)) throw_bad_input("learning rate must be > 0, got {}", s.base_lr);
  if (s.warmup_steps < 0 || s.step_size < 1) throw_bad_input("warm-up must be >= 0 and step size >= 1");
}

double learning_rate(const ScheduleOptions& s, int64_t step) {
  if (step < s.warmup_steps) return s.base_lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  const int64_t t = step - s.warmup_steps;
  if (s.kind == "step") return s.base_lr * std::pow(s.gamma, static_cast<double>(t / s.step_size));
  if (s.kind == "cosine") {
    const int64_t span = std::max<int64_t>(s.total_steps - s.warmup_steps, 1);
    const double progress = std::min(1.0, static_cast<double>(t) / static_cast<double>(span));
    return s.min_lr + 0.5 * (s.base_lr - s.min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
  }
  return s.base_lr;
}

}  // namespace scalec::distill
