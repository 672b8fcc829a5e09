#include "distill/gradual_pruning.h"

#include <algorithm>
#include <cmath>

#include "ir/error.h"

namespace scalec::distill {

namespace {

bool one_shot(const SparsitySchedule& s) { return s.end_step <= s.begin_step; }

}  // namespace

bool is_update_step(const SparsitySchedule& s, int64_t step) {
  if (step < s.begin_step) return false;
  if (one_shot(s)) return step == s.begin_step;
  if (step > s.end_step) return false;
  return step == s.end_step || (step - s.begin_step) % std::max<int64_t>(s.frequency, 1) == 0;
}

double sparsity_at(const SparsitySchedule& s, int64_t step) {
  if (step < s.begin_step) return 0.0;
  if (one_shot(s) || step >= s.end_step) return s.final;
  const int64_t f = std::max<int64_t>(s.frequency, 1);
  const int64_t t = s.begin_step + (step - s.begin_step) / f * f;  // the last update step
  const double progress = static_cast<double>(t - s.begin_step) / static_cast<double>(s.end_step - s.begin_step);
  return s.final + (s.initial - s.final) * std::pow(1.0 - progress, 3.0);
}

GradualPruner::GradualPruner(Trainer& trainer, const ir::Model& model, passes::MagnitudePruneOptions options,
                             SparsitySchedule schedule)
    : trainer_(trainer), model_(model), options_(std::move(options)), schedule_(schedule) {
  if (!(schedule_.initial >= 0 && schedule_.initial <= schedule_.final && schedule_.final < 1)) {
    throw_bad_input("pruning schedule needs 0 <= initial sparsity ({}) <= final sparsity ({}) < 1", schedule_.initial,
                    schedule_.final);
  }
  if (schedule_.frequency < 1) throw_bad_input("pruning frequency must be >= 1 step, got {}", schedule_.frequency);
}

void GradualPruner::on_step(int64_t step) {
  if (!is_update_step(schedule_, step)) return;
  passes::MagnitudePruneOptions o = options_;
  current_ = o.m > 0 ? 1.0 - static_cast<double>(o.n) / o.m : sparsity_at(schedule_, step);
  if (o.m == 0) {
    const double ratio = schedule_.final > 0 ? current_ / schedule_.final : 0.0;
    o.sparsity = current_;
    for (auto& [name, s] : o.overrides) s *= ratio;
  }
  last_ = passes::magnitude_masks(model_, o);
  trainer_.set_masks(last_.masks);
}

void GradualPruner::resume(int64_t steps_done, std::map<std::string, ir::Tensor> masks) {
  if (masks.empty()) return;  // no update yet
  int64_t last = steps_done - 1;
  while (last > 0 && !is_update_step(schedule_, last)) --last;
  on_step(last);  // the table (layers, targets, notes) of that update, from the current weights
  last_.masks = std::move(masks);
  trainer_.set_masks(last_.masks);  // the masks training actually used
}

}  // namespace scalec::distill
