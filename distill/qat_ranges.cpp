#include "distill/qat_ranges.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "passes/quantize/quant_layers.h"
#include "passes/quantize/quant_math.h"

namespace scalec::distill {

namespace {

// Smallest scale a learned one may shrink to: below it every value would clamp to the zero point.
constexpr float kMinScale = 1e-8f;

ir::Tensor scalar_like(const ir::Tensor& t, double v) {
  ir::Tensor out(t.dtype(), t.shape());
  if (t.dtype() == ir::DType::kInt8) out.mutable_values<int8_t>()[0] = static_cast<int8_t>(v);
  else if (t.dtype() == ir::DType::kUInt8) out.mutable_values<uint8_t>()[0] = static_cast<uint8_t>(v);
  else if (t.dtype() == ir::DType::kFloat) out.mutable_values<float>()[0] = static_cast<float>(v);
  else throw_internal("scalar of type {}", ir::dtype_name(t.dtype()));
  return out;
}

// The interval a Relu or Clip (bounds as constant inputs or, before opset 11, attributes) clamps to.
std::pair<float, float> clamp_bounds(const ir::Node& c) {
  if (c.op_type() == "Relu") return {0.0f, INFINITY};
  float lo = -INFINITY, hi = INFINITY;
  if (const ir::Attribute* a = c.attribute("min")) lo = a->f;
  if (const ir::Attribute* a = c.attribute("max")) hi = a->f;
  const ir::Value* lv = c.input(1);
  const ir::Value* hv = c.input(2);
  if (lv && lv->initializer && lv->initializer->numel() == 1) lo = static_cast<float>(lv->initializer->element_as_double(0));
  if (hv && hv->initializer && hv->initializer->numel() == 1) hi = static_cast<float>(hv->initializer->element_as_double(0));
  return {lo, hi};
}

}  // namespace

QatScales::QatScales(ir::Model& model, const passes::FakeQuantGraph& fq, std::map<std::string, std::vector<std::string>> groups,
                     std::map<std::string, calibration::Range> start, QatScaleOptions options)
    : model_(model), fq_(fq), groups_(std::move(groups)), o_(std::move(options)) {
  for (const ir::Node* f : fq_.activations) {
    const std::string& v = f->input(0)->name();
    auto g = groups_.find(v);
    if (g == groups_.end()) throw_internal("no range group for '{}'", v);
    // Every pair starts from its group's calibrated range (the union is what sets the scale anyway).
    calibration::Range r{INFINITY, -INFINITY};
    for (const std::string& source : g->second) {
      const calibration::Range& c = start.at(source);
      r = {std::min(r.min, c.min), std::max(r.max, c.max)};
    }
    ranges_[v] = r;
    if (std::find(g->second.begin(), g->second.end(), v) != g->second.end()) continue;
    // Calibrated through the clamp after it: the Relu / Clip reading this pair's output.
    for (const ir::Use& u : f->output(0)->uses()) {
      const ir::Node* c = u.node;
      if ((c->op_type() == "Relu" || c->op_type() == "Clip") && c->output(0) &&
          std::find(g->second.begin(), g->second.end(), c->output(0)->name()) != g->second.end()) {
        clamp_[v] = c;
      }
    }
  }
  for (const ir::Value* v : model_.graph->inputs) {
    if (ranges_.count(v->name())) input_names_.insert(v->name());
  }
  if (!o_.learn_scales) return;
  ir::Attribute lsq;  // scale gradients times 1 / sqrt(n * qmax) (LSQ)
  lsq.name = "lsq";
  lsq.kind = ir::Attribute::Kind::kInt;
  lsq.i = 1;
  for (ir::Node* f : fq_.activations) f->set_attribute(lsq);
  for (const passes::FakeQuantWeight& w : fq_.weights) w.fake_quant->set_attribute(lsq);
}

std::vector<std::string> QatScales::fixed_scales() const {
  if (o_.learn_scales) return {};
  std::vector<std::string> names;
  for (const ir::Node* f : fq_.activations) names.push_back(f->input(1)->name());
  for (const passes::FakeQuantWeight& w : fq_.weights) names.push_back(w.fake_quant->input(1)->name());
  return names;
}

TrainingData QatScales::attach(Trainer& trainer, const TrainingData& data) {
  trainer.add_step_hook([this](int64_t step) { on_step(step); });
  if (o_.learn_scales) return data;
  for (const auto& [name, range] : ranges_) {
    if (input_names_.count(name)) continue;
    const ir::Value* v = model_.graph->find_value(name);
    if (!v) throw_internal("quantized value '{}' is not in the training graph", name);
    trainer.add_tap(v, [this](const ir::Value& value, const ir::Tensor& t) { observe(value.name(), t); });
  }
  TrainingData observed = data;
  observed.feeds = [this, feeds = data.feeds](std::span<const int64_t> rows) {
    kernels::NamedTensors f = feeds(rows);
    for (const auto& [name, t] : f) {
      if (input_names_.count(name)) observe(name, t);
    }
    return f;
  };
  return observed;
}

void QatScales::observe(const std::string& name, const ir::Tensor& t) {
  if (t.dtype() != ir::DType::kFloat) return;
  float lo = INFINITY, hi = -INFINITY;
  for (float v : t.values<float>()) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo > hi) return;  // nothing finite
  if (auto c = clamp_.find(name); c != clamp_.end()) {
    const auto [clo, chi] = clamp_bounds(*c->second);
    lo = std::clamp(lo, clo, chi);
    hi = std::clamp(hi, clo, chi);
  }
  auto [it, fresh] = pending_.try_emplace(name, calibration::Range{lo, hi});
  if (!fresh) it->second = {std::min(it->second.min, lo), std::max(it->second.max, hi)};
}

void QatScales::on_step(int64_t step) {
  if (o_.learn_scales) {  // the optimizer moved them: keep them usable
    auto keep_positive = [](ir::Value* s) {
      ir::Tensor t = *s->initializer;
      for (float& v : t.mutable_values<float>()) v = std::max(std::fabs(v), kMinScale);
      s->initializer = t;
    };
    for (const ir::Node* f : fq_.activations) keep_positive(f->input(1));
    for (const passes::FakeQuantWeight& w : fq_.weights) keep_positive(w.fake_quant->input(1));
    return;
  }
  if (step < o_.freeze_ranges_after && o_.comm && o_.comm->size() > 1) {
    // Every rank takes part whatever its share held (a rank may have had no rows), names in map order.
    std::vector<double> bounds;  // per activation: -min, max (missing: -inf, -inf)
    for (const auto& [name, r] : ranges_) {
      auto it = pending_.find(name);
      bounds.push_back(it != pending_.end() ? -static_cast<double>(it->second.min) : -INFINITY);
      bounds.push_back(it != pending_.end() ? static_cast<double>(it->second.max) : -INFINITY);
    }
    o_.comm->all_reduce_max(bounds);
    pending_.clear();
    size_t k = 0;
    for (const auto& [name, r] : ranges_) {
      if (std::isfinite(bounds[k]) && std::isfinite(bounds[k + 1])) {
        pending_[name] = {static_cast<float>(-bounds[k]), static_cast<float>(bounds[k + 1])};
      }
      k += 2;
    }
  }
  if (step < o_.freeze_ranges_after && !pending_.empty()) {
    const auto d = static_cast<float>(o_.ema_decay);
    for (const auto& [name, batch] : pending_) {
      calibration::Range& r = ranges_[name];
      r.min = d * r.min + (1 - d) * batch.min;
      r.max = d * r.max + (1 - d) * batch.max;
    }
    ++updates_;
    set_activation_scales();
  }
  pending_.clear();
  set_weight_scales();
}

void QatScales::set_activation_scales() {
  const passes::quant::IntRange ints = passes::quant::int_range(8, o_.qdq.activation_signed, o_.qdq.activation_symmetric);
  std::map<std::vector<std::string>, calibration::Range> group_range;  // pairs with one source list share a scale
  for (const auto& [v, r] : ranges_) {
    auto [it, fresh] = group_range.try_emplace(groups_.at(v), r);
    if (!fresh) it->second = {std::min(it->second.min, r.min), std::max(it->second.max, r.max)};
  }
  for (const ir::Node* f : fq_.activations) {
    const calibration::Range u = group_range.at(groups_.at(f->input(0)->name()));
    const passes::quant::QuantParams p = passes::quant::params_from_range(u.min, u.max, ints, o_.qdq.activation_symmetric);
    f->input(1)->initializer = scalar_like(*f->input(1)->initializer, p.scale);
    f->input(2)->initializer = scalar_like(*f->input(2)->initializer, static_cast<double>(p.zero_point));
  }
}

void QatScales::set_weight_scales() {
  for (const passes::FakeQuantWeight& w : fq_.weights) {
    const std::optional<ir::Tensor> computed = o_.weight_of ? o_.weight_of(w) : std::nullopt;
    const ir::Tensor& weight = computed ? *computed : *w.fake_quant->input(0)->initializer;
    passes::quant::WeightQuantOptions wo = o_.qdq.weights;
    if (auto bits = o_.qdq.layer_bits.find(w.layer->name); bits != o_.qdq.layer_bits.end()) wo.bits = bits->second;
    const passes::quant::WeightAxes axes = passes::quant::weight_axes(*w.layer, weight.rank());
    passes::quant::QuantizedWeight qw = passes::quant::quantize_weight(weight, axes.channel, axes.reduction, wo);
    w.fake_quant->input(1)->initializer = std::move(qw.scale);
    if (ir::Value* zp = w.fake_quant->input(2)) zp->initializer = std::move(qw.zero_point);
  }
}

}  // namespace scalec::distill
