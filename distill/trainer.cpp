#include "distill/trainer.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <unordered_set>

#include "distill/grad_reducer.h"
#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "kernels/exec/autodiff.h"
#include "passes/core/name_match.h"

namespace scalec::distill {

std::vector<int64_t> shuffled_rows(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[i] = i;
  std::mt19937_64 gen(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(gen() % static_cast<uint64_t>(i + 1));  // bias < 2^-40 for n < 2^24
    std::swap(rows[i], rows[j]);
  }
  return rows;
}

std::pair<int64_t, int64_t> rank_share(int64_t n, int rank, int ranks) {
  const int64_t base = n / ranks, extra = n % ranks;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

namespace {

// Multiplies a float or double tensor by `f` in place.
void scale_in_place(ir::Tensor& t, double f) {
  if (t.dtype() == ir::DType::kFloat) {
    for (float& x : t.mutable_values<float>()) x = static_cast<float>(x * f);
  } else if (t.dtype() == ir::DType::kDouble) {
    for (double& x : t.mutable_values<double>()) x *= f;
  }
}

// FNV-1a over the bytes of `tensors` (the replica check compares these across ranks).
uint64_t weights_hash(const std::vector<ir::Value*>& a, const std::vector<ir::Value*>& b) {
  uint64_t h = 1469598103934665603ull;
  for (const auto* list : {&a, &b}) {
    for (const ir::Value* v : *list) {
      for (std::byte c : v->initializer->bytes()) h = (h ^ static_cast<uint64_t>(c)) * 1099511628211ull;
    }
  }
  return h;
}

bool is_float(const ir::Tensor& t) { return t.dtype() == ir::DType::kFloat || t.dtype() == ir::DType::kDouble; }

// Graph time in seconds since `start`.
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The teacher's logits: its output named like the student's, else its first output.
const ir::Tensor& find_output(const kernels::NamedTensors& outs, const std::string& name) {
  for (const auto& [n, t] : outs) {
    if (n == name) return t;
  }
  return outs.front().second;
}

}  // namespace

Trainer::Trainer(ir::Model& model, TrainerOptions options) : model_(model), o_(std::move(options)) {
  if (o_.batch < 1) throw_bad_input("batch size must be >= 1, got {}", o_.batch);
  if (o_.device != "cpu") throw_bad_input("device '{}': this build trains on the CPU only (no CUDA kernels yet)", o_.device);
  check_schedule(o_.schedule);
  ir::Graph& g = *model.graph;
  std::unordered_set<const ir::Value*> stat_set;
  for (const auto& n : g.nodes()) {
    if (n->op_type() != "BatchNormalization" || !n->domain().empty()) continue;
    for (size_t i : {3u, 4u}) {
      ir::Value* v = n->input(i);
      if (v && v->initializer && stat_set.insert(v).second) stats_.push_back(v);
    }
  }
  std::vector<const ir::Value*> candidates;
  std::map<const ir::Value*, std::string> frozen_by;
  auto constant = [&](const ir::Value* v) { return std::count(o_.constants.begin(), o_.constants.end(), v->name()) > 0; };
  for (ir::Value* v : g.initializers) {
    if (!is_float(*v->initializer) || stat_set.count(v) || constant(v)) continue;
    auto p = std::find_if(o_.freeze.begin(), o_.freeze.end(), [&](const std::string& f) { return passes::glob_match(f, v->name()); });
    if (p != o_.freeze.end()) frozen_by[v] = *p;
    else candidates.push_back(v);
  }
  logits_value();  // checks --output early
  kernels::Autodiff probe(model, candidates);
  for (ir::Value* v : g.initializers) {
    if (!is_float(*v->initializer) || constant(v)) continue;
    const int64_t n = v->initializer->numel();
    if (std::count(o_.auxiliary.begin(), o_.auxiliary.end(), v->name())) {
      params_.push_back(v);  // trained, but not the model's: not counted
    } else if (stat_set.count(v)) {
      coverage_.add_other_params(n);  // running statistics: updated from batches, not trained
    } else if (frozen_by.count(v)) {
      coverage_.add(v->name(), n, false, fmt::format("frozen by --freeze '{}'", frozen_by[v]));
    } else if (!probe.carries_gradient(v)) {
      coverage_.add(v->name(), n, false, "no gradient reaches it from the output");
    } else {
      coverage_.add(v->name(), n, true);
      params_.push_back(v);
    }
  }
  for (const auto& n : g.nodes()) {  // weights the trainer cannot update in place
    const ir::Attribute* a = n->op_type() == "Constant" ? n->attribute("value") : nullptr;
    if (a && a->t && is_float(*a->t) && n->output(0)) {
      coverage_.add(n->output(0)->name(), a->t->numel(), false, "weights in Constant nodes (finetune trains initializers)");
    }
  }
  if (coverage_.layers_total() == 0) throw_bad_input("nothing to train: the model has no float weights");
  coverage_.throw_if_nothing_changed("to train");
  build_plans();
  optimizer_ = make_optimizer(o_.optimizer);
  kernels::ExecutorOptions eo;
  eo.threads = o_.threads;
  if (ranks() > 1) {
    // Rank 0's weights and statistics are everyone's starting point.
    for (const auto* list : {&params_, &stats_}) {
      for (ir::Value* v : *list) kernels::comm::broadcast(*o_.comm, *v->initializer, 0);
    }
    std::vector<const ir::Tensor*> tensors;
    for (const ir::Value* v : params_) tensors.push_back(&*v->initializer);
    reducer_ = std::make_unique<GradientReducer>(*o_.comm, tensors);
  }
  if (o_.teacher) {
    if (!(o_.distill_alpha >= 0 && o_.distill_alpha <= 1)) throw_bad_input("distillation weight must be in [0, 1], got {}", o_.distill_alpha);
    if (!(o_.temperature > 0)) throw_bad_input("distillation temperature must be > 0, got {}", o_.temperature);
    eo.training = false;
    teacher_exec_ = std::make_unique<kernels::Executor>(*o_.teacher, eo);
    if (!o_.teacher_output.empty()) {
      const auto& outs = o_.teacher->graph->outputs;
      if (std::none_of(outs.begin(), outs.end(), [&](const ir::Value* v) { return v->name() == o_.teacher_output; })) {
        throw_bad_input("the teacher has no output named '{}'", o_.teacher_output);
      }
    }
  }
  if (!o_.hints.empty()) {
    if (!teacher_exec_) throw_internal("feature hints need a teacher");
    if (o_.hint_loss != "mse" && o_.hint_loss != "cosine") throw_bad_input("--hint-loss must be mse or cosine, got '{}'", o_.hint_loss);
    teacher_hints_.resize(o_.hints.size());
    for (size_t k = 0; k < o_.hints.size(); ++k) {
      const ir::Value* tv = o_.teacher->graph->find_value(o_.hints[k].teacher_value);
      const auto& outs = g.outputs;
      if (!tv || std::none_of(outs.begin(), outs.end(), [&](const ir::Value* v) { return v->name() == o_.hints[k].student_output; })) {
        throw_internal("hint {}: '{}' is not a teacher value or '{}' not a student output", k, o_.hints[k].teacher_value,
                       o_.hints[k].student_output);
      }
      teacher_exec_->add_tap(tv, [this, k](const ir::Value&, const ir::Tensor& t) { teacher_hints_[k] = t; });
    }
  }
}

void Trainer::build_plans() {
  autodiff_ = std::make_unique<kernels::Autodiff>(model_, std::vector<const ir::Value*>(params_.begin(), params_.end()));
  kernels::ExecutorOptions eo;
  eo.threads = o_.threads;
  eo.training = true;
  train_exec_ = std::make_unique<kernels::Executor>(model_, eo);
  for (const auto& [value, tap] : taps_) train_exec_->add_tap(value, tap);
  eo.training = false;
  eval_exec_ = std::make_unique<kernels::Executor>(model_, eo);
}

void Trainer::rebuild() { build_plans(); }

void Trainer::add_tap(const ir::Value* value, kernels::Executor::Tap tap) {
  taps_.emplace_back(value, tap);
  train_exec_->add_tap(value, std::move(tap));
}

void Trainer::set_masks(std::map<std::string, ir::Tensor> masks) {
  for (const auto& [name, m] : masks) {
    const ir::Value* v = model_.graph->find_value(name);
    if (!v || !v->initializer || v->initializer->shape() != m.shape() || v->initializer->dtype() != m.dtype()) {
      throw_bad_input("pruning mask '{}' does not fit a weight of the model", name);
    }
  }
  masks_ = std::move(masks);
  apply_masks();
}

void Trainer::apply_masks() {
  for (const auto& [name, m] : masks_) {
    ir::Tensor& w = *model_.graph->find_value(name)->initializer;
    if (w.dtype() == ir::DType::kFloat) {
      auto wv = w.mutable_values<float>();
      auto mv = m.values<float>();
      for (size_t i = 0; i < wv.size(); ++i) wv[i] = mv[i] == 0.0f ? 0.0f : wv[i];
    } else {
      auto wv = w.mutable_values<double>();
      auto mv = m.values<double>();
      for (size_t i = 0; i < wv.size(); ++i) wv[i] = mv[i] == 0.0 ? 0.0 : wv[i];
    }
  }
}

Trainer::~Trainer() = default;

int Trainer::ranks() const { return o_.comm ? o_.comm->size() : 1; }

void Trainer::check_replicas() {
  const int n = ranks();
  std::vector<int64_t> hashes(static_cast<size_t>(n), 0);
  hashes[static_cast<size_t>(o_.comm->rank())] = static_cast<int64_t>(weights_hash(params_, stats_));
  o_.comm->all_reduce_sum(std::span<int64_t>(hashes));
  for (int r = 1; r < n; ++r) {
    if (hashes[static_cast<size_t>(r)] != hashes[0]) {
      throw_internal("replica check after step {}: rank {}'s weights differ from rank 0's (the ranks diverged)", step(), r);
    }
  }
}

int64_t Trainer::step() const { return optimizer_->steps(); }

const ir::Value* Trainer::logits_value() const {
  const auto& outs = model_.graph->outputs;
  if (outs.empty()) throw_bad_input("the model has no outputs");
  if (o_.output.empty()) return outs.front();
  for (const ir::Value* v : outs) {
    if (v->name() == o_.output) return v;
  }
  throw_bad_input("the model has no output named '{}'", o_.output);
}

LossResult Trainer::train_step(const kernels::NamedTensors& feeds, const ir::Tensor& labels,
                               const ir::Tensor* teacher_logits) {
  if (ranks() > 1) throw_internal("Trainer::train_step trains one process's batch; data-parallel ranks use train_step_shard");
  const int64_t rows = labels.numel();
  return step_impl(&feeds, &labels, teacher_logits, rows, rows);
}

LossResult Trainer::train_step_shard(const TrainingData& data, std::span<const int64_t> rows, int64_t global_rows) {
  const auto local = static_cast<int64_t>(rows.size());
  if (local == 0) return step_impl(nullptr, nullptr, nullptr, 0, global_rows);
  std::optional<ir::Tensor> cached;
  if (data.teacher_logits) cached = data.teacher_logits(rows);
  const kernels::NamedTensors feeds = data.feeds(rows);
  const ir::Tensor labels = data.labels(rows);
  return step_impl(&feeds, &labels, cached ? &*cached : nullptr, local, global_rows);
}

LossResult Trainer::step_impl(const kernels::NamedTensors* feeds, const ir::Tensor* labels, const ir::Tensor* teacher_logits,
                              int64_t local_rows, int64_t global_rows) {
  const int64_t step = optimizer_->steps();
  for (const auto& hook : step_hooks_) hook(step);
  const ir::Value* logits_v = logits_value();
  LossResult loss;
  double hint_loss = 0;  // the hints' weighted share of loss.loss (this rank's mean)
  std::vector<ir::Tensor> grads(params_.size());
  if (reducer_) reducer_->begin_step();
  if (local_rows > 0) {
    const kernels::comm::SyncBatchNormScope sync_bn(o_.local_bn ? nullptr : o_.comm);
    kernels::NamedTensors outs = train_exec_->run(*feeds, o_.seed * 1000003ull + static_cast<uint64_t>(step));
    auto it = std::find_if(outs.begin(), outs.end(), [&](const auto& o) { return o.first == logits_v->name(); });
    loss = cross_entropy(it->second, *labels, o_.label_smoothing);
    if (teacher_exec_ || teacher_logits) {
      kernels::NamedTensors t;
      if (!o_.hints.empty() && teacher_logits) throw_internal("feature hints need the teacher's run, not cached logits");
      if (!teacher_logits) {
        t = teacher_exec_->run(*feeds);
        teacher_logits = &find_output(t, o_.teacher_output.empty() ? logits_v->name() : o_.teacher_output);
      }
      // kl_divergence carries T^2 (Hinton et al.); without it the KL term is scaled back by 1 / T^2.
      const double t2 = o_.kd_t2 ? 1.0 : 1.0 / (o_.temperature * o_.temperature);
      loss = blend(kl_divergence(it->second, *teacher_logits, o_.temperature), o_.distill_alpha * t2, loss, 1.0 - o_.distill_alpha);
    }
    // A shard's mean loss counts as its share of the global batch's mean.
    const double share = static_cast<double>(local_rows) / static_cast<double>(global_rows);
    if (local_rows != global_rows) scale_in_place(loss.dprediction, share);
    kernels::NamedTensors seeds = {{logits_v->name(), loss.dprediction}};
    for (size_t k = 0; k < o_.hints.size(); ++k) {  // feature hints: more loss terms on intermediate values
      const std::string& name = o_.hints[k].student_output;
      auto s = std::find_if(outs.begin(), outs.end(), [&](const auto& o) { return o.first == name; });
      LossResult h = o_.hint_loss == "cosine" ? cosine_distance(s->second, teacher_hints_[k]) : mse(s->second, teacher_hints_[k]);
      scale_in_place(h.dprediction, o_.hint_weight * share);
      hint_loss += o_.hint_weight * h.loss;
      seeds.emplace_back(name, std::move(h.dprediction));
    }
    loss.loss += hint_loss;
    std::function<void(size_t, const ir::Tensor&)> on_ready;
    if (reducer_) on_ready = [this](size_t k, const ir::Tensor& g) { reducer_->ready(k, g); };
    grads = autodiff_->backward(*train_exec_, seeds, on_ready);

    // Running statistics: what BatchNormalization returned in training mode.
    for (const kernels::TapeEntry& e : train_exec_->tape()) {
      if (e.node->op_type() != "BatchNormalization" || e.outputs.size() < 3) continue;
      for (size_t k : {1u, 2u}) {
        ir::Value* v = e.node->input(k + 2);
        if (v && std::count(stats_.begin(), stats_.end(), v) && e.outputs[k].dtype() == v->initializer->dtype()) {
          v->initializer = e.outputs[k];
        }
      }
    }
    train_exec_->clear_tape();  // the weights are no longer shared with the tape: updates need no copy
  }
  if (reducer_) {
    reducer_->finish(grads);
    const auto local = static_cast<double>(local_rows);
    double sums[3] = {loss.loss * local, static_cast<double>(loss.correct), hint_loss * local};
    o_.comm->all_reduce_sum(std::span<double>(sums));
    loss.loss = sums[0] / static_cast<double>(global_rows);
    loss.correct = static_cast<int64_t>(sums[1]);
    hint_loss = sums[2] / static_cast<double>(global_rows);
    // Per-rank batch statistics: the running statistics are averaged so the replicas stay equal.
    for (ir::Value* v : o_.local_bn ? stats_ : std::vector<ir::Value*>{}) kernels::comm::all_reduce_mean(*o_.comm, *v->initializer);
  }

  std::vector<ir::Tensor*> ps;
  std::vector<ir::Tensor> gs;
  std::vector<const ir::Tensor*> l1_weights;
  std::vector<ir::Tensor> l1_grads;
  for (size_t k = 0; k < params_.size(); ++k) {
    if (grads[k].dtype() == ir::DType::kUndefined) continue;  // no gradient reached it this step
    ps.push_back(&*params_[k]->initializer);
    gs.push_back(std::move(grads[k]));
  }
  if (o_.l1 > 0) {
    std::vector<size_t> which;
    for (size_t k = 0; k < ps.size(); ++k) {
      if (ps[k]->rank() >= 2) {
        which.push_back(k);
        l1_weights.push_back(ps[k]);
        l1_grads.push_back(gs[k]);
      }
    }
    loss.loss += l1_penalty(l1_weights, l1_grads, o_.l1);
    for (size_t j = 0; j < which.size(); ++j) gs[which[j]] = std::move(l1_grads[j]);
  }
  last_hint_loss_ = hint_loss;
  optimizer_->step(ps, gs, learning_rate(o_.schedule, step));
  apply_masks();  // pruned weights stay zero whatever weight decay and momentum did
  if (o_.check_replicas > 0 && ranks() > 1 && optimizer_->steps() % o_.check_replicas == 0) check_replicas();
  return loss;
}

EpochStats Trainer::train_epoch(const TrainingData& data, int64_t epoch) {
  const auto start = std::chrono::steady_clock::now();
  const double wait_before = reducer_ ? reducer_->wait_seconds() : 0.0;
  std::vector<int64_t> rows = shuffled_rows(data.samples, o_.seed, epoch);
  EpochStats s;
  s.epoch = epoch;
  long double loss_sum = 0, hint_sum = 0;
  int64_t correct = 0;
  const int rank = o_.comm ? o_.comm->rank() : 0;
  for (int64_t b = 0; b < data.samples; b += o_.batch) {
    const int64_t global = std::min(o_.batch, data.samples - b);
    if (global < ranks() && !o_.local_bn && !stats_.empty()) {
      // Synchronized BatchNorm needs a sample on every rank: a last batch smaller than the ranks is skipped.
      s.skipped_samples += global;
      continue;
    }
    const auto [first, count] = rank_share(global, rank, ranks());
    std::span<const int64_t> mine(rows.data() + b + first, static_cast<size_t>(count));
    LossResult r = train_step_shard(data, mine, global);
    loss_sum += static_cast<long double>(r.loss) * static_cast<long double>(global);
    hint_sum += static_cast<long double>(last_hint_loss_) * static_cast<long double>(global);
    correct += r.correct;
  }
  const double n = static_cast<double>(std::max<int64_t>(data.samples - s.skipped_samples, 1));
  s.loss = static_cast<double>(loss_sum) / n;
  s.accuracy = static_cast<double>(correct) / n;
  if (!o_.hints.empty()) s.hint_loss = static_cast<double>(hint_sum) / n;
  s.seconds = seconds_since(start);
  s.samples_per_second = s.seconds > 0 ? static_cast<double>(data.samples) / s.seconds : 0;
  if (reducer_) s.comm_wait_seconds = reducer_->wait_seconds() - wait_before;
  return s;
}

EvalStats Trainer::evaluate(const TrainingData& data) {
  const ir::Value* logits_v = logits_value();
  double sums[2] = {0, 0};  // loss * samples, correct: summed over the ranks' shares
  const auto [first, count] = rank_share(data.samples, o_.comm ? o_.comm->rank() : 0, ranks());
  std::vector<int64_t> rows(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) rows[static_cast<size_t>(i)] = first + i;
  for (int64_t b = 0; b < count; b += o_.batch) {
    std::span<const int64_t> batch(rows.data() + b, static_cast<size_t>(std::min(o_.batch, count - b)));
    kernels::NamedTensors outs = eval_exec_->run(data.feeds(batch));
    auto it = std::find_if(outs.begin(), outs.end(), [&](const auto& o) { return o.first == logits_v->name(); });
    LossResult r = cross_entropy(it->second, data.labels(batch), 0.0);
    sums[0] += r.loss * static_cast<double>(batch.size());
    sums[1] += static_cast<double>(r.correct);
  }
  if (ranks() > 1) o_.comm->all_reduce_sum(std::span<double>(sums));
  const double n = static_cast<double>(std::max<int64_t>(data.samples, 1));
  return {sums[0] / n, sums[1] / n};
}

std::vector<std::pair<std::string, ir::Tensor>> Trainer::checkpoint() const {
  std::vector<std::pair<std::string, ir::Tensor>> out;
  for (const ir::Value* v : params_) out.emplace_back("param/" + v->name(), *v->initializer);
  for (const ir::Value* v : stats_) out.emplace_back("stat/" + v->name(), *v->initializer);
  for (auto& [k, t] : optimizer_->state()) out.emplace_back("opt/" + k, t);
  return out;
}

void Trainer::restore(const std::vector<std::pair<std::string, ir::Tensor>>& state) {
  std::vector<std::pair<std::string, ir::Tensor>> opt;
  auto fill = [&](const std::vector<ir::Value*>& values, const std::string& prefix) {
    for (ir::Value* v : values) {
      auto it = std::find_if(state.begin(), state.end(), [&](const auto& s) { return s.first == prefix + v->name(); });
      if (it == state.end()) throw_bad_input("the checkpoint has no '{}{}': it was written for another model", prefix, v->name());
      if (it->second.dtype() != v->initializer->dtype() || it->second.shape() != v->initializer->shape()) {
        throw_bad_input("the checkpoint's '{}' has another type or shape than the model's", it->first);
      }
      v->initializer = it->second;
    }
  };
  fill(params_, "param/");
  fill(stats_, "stat/");
  for (const auto& [k, t] : state) {
    if (k.rfind("opt/", 0) == 0) opt.emplace_back(k.substr(4), t);
  }
  optimizer_->load_state(opt);
}

}  // namespace scalec::distill
