#include "distill/trainer.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <unordered_set>

#include "ir/error.h"
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

namespace {

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
  for (ir::Value* v : g.initializers) {
    if (!is_float(*v->initializer) || stat_set.count(v)) continue;
    auto p = std::find_if(o_.freeze.begin(), o_.freeze.end(), [&](const std::string& f) { return passes::glob_match(f, v->name()); });
    if (p != o_.freeze.end()) frozen_by[v] = *p;
    else candidates.push_back(v);
  }
  logits_value();  // checks --output early
  kernels::Autodiff probe(model, candidates);
  std::vector<const ir::Value*> wrt;
  for (ir::Value* v : g.initializers) {
    if (!is_float(*v->initializer)) continue;
    const int64_t n = v->initializer->numel();
    if (stat_set.count(v)) {
      coverage_.add_other_params(n);  // running statistics: updated from batches, not trained
    } else if (frozen_by.count(v)) {
      coverage_.add(v->name(), n, false, fmt::format("frozen by --freeze '{}'", frozen_by[v]));
    } else if (!probe.carries_gradient(v)) {
      coverage_.add(v->name(), n, false, "no gradient reaches it from the output");
    } else {
      coverage_.add(v->name(), n, true);
      params_.push_back(v);
      wrt.push_back(v);
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
  autodiff_ = std::make_unique<kernels::Autodiff>(model, wrt);
  kernels::ExecutorOptions eo;
  eo.threads = o_.threads;
  eo.training = true;
  train_exec_ = std::make_unique<kernels::Executor>(model, eo);
  eo.training = false;
  eval_exec_ = std::make_unique<kernels::Executor>(model, eo);
  optimizer_ = make_optimizer(o_.optimizer);
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
  const int64_t step = optimizer_->steps();
  if (step_hook_) step_hook_(step);
  kernels::NamedTensors outs = train_exec_->run(feeds, o_.seed * 1000003ull + static_cast<uint64_t>(step));
  const ir::Value* logits_v = logits_value();
  auto it = std::find_if(outs.begin(), outs.end(), [&](const auto& o) { return o.first == logits_v->name(); });
  LossResult loss = cross_entropy(it->second, labels, o_.label_smoothing);
  if (teacher_exec_ || teacher_logits) {
    kernels::NamedTensors t;
    if (!teacher_logits) {
      t = teacher_exec_->run(feeds);
      teacher_logits = &find_output(t, o_.teacher_output.empty() ? logits_v->name() : o_.teacher_output);
    }
    // kl_divergence carries T^2 (Hinton et al.); without it the KL term is scaled back by 1 / T^2.
    const double t2 = o_.kd_t2 ? 1.0 : 1.0 / (o_.temperature * o_.temperature);
    loss = blend(kl_divergence(it->second, *teacher_logits, o_.temperature), o_.distill_alpha * t2, loss, 1.0 - o_.distill_alpha);
  }
  std::vector<ir::Tensor> grads = autodiff_->backward(*train_exec_, {{logits_v->name(), loss.dprediction}});

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
  optimizer_->step(ps, gs, learning_rate(o_.schedule, step));
  apply_masks();  // pruned weights stay zero whatever weight decay and momentum did
  return loss;
}

EpochStats Trainer::train_epoch(const TrainingData& data, int64_t epoch) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<int64_t> rows = shuffled_rows(data.samples, o_.seed, epoch);
  EpochStats s;
  s.epoch = epoch;
  long double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t b = 0; b < data.samples; b += o_.batch) {
    std::span<const int64_t> batch(rows.data() + b, static_cast<size_t>(std::min(o_.batch, data.samples - b)));
    std::optional<ir::Tensor> cached;
    if (data.teacher_logits) cached = data.teacher_logits(batch);
    LossResult r = train_step(data.feeds(batch), data.labels(batch), cached ? &*cached : nullptr);
    loss_sum += static_cast<long double>(r.loss) * static_cast<long double>(batch.size());
    correct += r.correct;
  }
  const double n = static_cast<double>(std::max<int64_t>(data.samples, 1));
  s.loss = static_cast<double>(loss_sum) / n;
  s.accuracy = static_cast<double>(correct) / n;
  s.seconds = seconds_since(start);
  s.samples_per_second = s.seconds > 0 ? static_cast<double>(data.samples) / s.seconds : 0;
  return s;
}

EvalStats Trainer::evaluate(const TrainingData& data) {
  const ir::Value* logits_v = logits_value();
  long double loss_sum = 0;
  int64_t correct = 0;
  std::vector<int64_t> rows(static_cast<size_t>(data.samples));
  for (int64_t i = 0; i < data.samples; ++i) rows[i] = i;
  for (int64_t b = 0; b < data.samples; b += o_.batch) {
    std::span<const int64_t> batch(rows.data() + b, static_cast<size_t>(std::min(o_.batch, data.samples - b)));
    kernels::NamedTensors outs = eval_exec_->run(data.feeds(batch));
    auto it = std::find_if(outs.begin(), outs.end(), [&](const auto& o) { return o.first == logits_v->name(); });
    LossResult r = cross_entropy(it->second, data.labels(batch), 0.0);
    loss_sum += static_cast<long double>(r.loss) * static_cast<long double>(batch.size());
    correct += r.correct;
  }
  const double n = static_cast<double>(std::max<int64_t>(data.samples, 1));
  return {static_cast<double>(loss_sum) / n, static_cast<double>(correct) / n};
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
