#include "distill/optimizer.h"

#include <cmath>
#include <map>

#include "ir/error.h"

namespace scalec::distill {

namespace {

// Calls f(T{}) for float or double parameters.
template <typename F>
void with_float_type(const ir::Tensor& t, F&& f) {
  if (t.dtype() == ir::DType::kFloat) return f(float{});
  if (t.dtype() == ir::DType::kDouble) return f(double{});
  throw_bad_input("cannot train a parameter of type {}", ir::dtype_name(t.dtype()));
}

// Per-parameter state tensors by slot name, created zero-filled like the parameter.
class SlotState {
 public:
  ir::Tensor& slot(size_t index, const std::string& name, const ir::Tensor& like) {
    auto key = std::to_string(index) + "/" + name;
    auto it = slots_.find(key);
    if (it == slots_.end()) it = slots_.emplace(key, ir::Tensor(like.dtype(), like.shape())).first;
    return it->second;
  }
  bool has(size_t index, const std::string& name) const { return slots_.count(std::to_string(index) + "/" + name) > 0; }
  std::vector<std::pair<std::string, ir::Tensor>> all(int64_t steps) const {
    std::vector<std::pair<std::string, ir::Tensor>> out(slots_.begin(), slots_.end());
    out.emplace_back("steps", ir::Tensor::from_int64s({}, std::vector<int64_t>{steps}));
    return out;
  }
  int64_t load(const std::vector<std::pair<std::string, ir::Tensor>>& state) {
    slots_.clear();
    int64_t steps = 0;
    for (const auto& [k, t] : state) {
      if (k == "steps") steps = t.values<int64_t>()[0];
      else slots_.emplace(k, t);
    }
    return steps;
  }

 private:
  std::map<std::string, ir::Tensor> slots_;
};

class Sgd final : public Optimizer {
 public:
  explicit Sgd(const OptimizerOptions& o) : o_(o) {}
  void step(const std::vector<ir::Tensor*>& params, const std::vector<ir::Tensor>& grads, double lr) override {
    for (size_t k = 0; k < params.size(); ++k) {
      ir::Tensor& p = *params[k];
      with_float_type(p, [&](auto tag) {
        using T = decltype(tag);
        const bool first = !state_.has(k, "momentum");
        T* w = p.mutable_values<T>().data();
        const T* g = grads[k].values<T>().data();
        T* buf = o_.momentum != 0 ? state_.slot(k, "momentum", p).template mutable_values<T>().data() : nullptr;
        const T wd = static_cast<T>(o_.weight_decay), mom = static_cast<T>(o_.momentum), a = static_cast<T>(lr);
        for (int64_t i = 0; i < p.numel(); ++i) {
          T d = g[i] + wd * w[i];
          if (buf) {
            buf[i] = first ? d : mom * buf[i] + d;  // PyTorch: the first step's buffer is the gradient
            d = o_.nesterov ? d + mom * buf[i] : buf[i];
          }
          w[i] -= a * d;
        }
      });
    }
    ++steps_;
  }
  std::vector<std::pair<std::string, ir::Tensor>> state() const override { return state_.all(steps_); }
  void load_state(const std::vector<std::pair<std::string, ir::Tensor>>& s) override { steps_ = state_.load(s); }

 private:
  OptimizerOptions o_;
  SlotState state_;
};

class AdamW final : public Optimizer {
 public:
  explicit AdamW(const OptimizerOptions& o) : o_(o) {}
  void step(const std::vector<ir::Tensor*>& params, const std::vector<ir::Tensor>& grads, double lr) override {
    ++steps_;
    const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(steps_));
    const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(steps_));
    for (size_t k = 0; k < params.size(); ++k) {
      ir::Tensor& p = *params[k];
      with_float_type(p, [&](auto tag) {
        using T = decltype(tag);
        T* w = p.mutable_values<T>().data();
        const T* g = grads[k].values<T>().data();
        T* m = state_.slot(k, "exp_avg", p).template mutable_values<T>().data();
        T* v = state_.slot(k, "exp_avg_sq", p).template mutable_values<T>().data();
        const T b1 = static_cast<T>(o_.beta1), b2 = static_cast<T>(o_.beta2);
        const T decay = static_cast<T>(1.0 - lr * o_.weight_decay);
        const T step_size = static_cast<T>(lr / bc1), root_bc2 = static_cast<T>(std::sqrt(bc2));
        for (int64_t i = 0; i < p.numel(); ++i) {
          w[i] *= decay;
          m[i] = b1 * m[i] + (T(1) - b1) * g[i];
          v[i] = b2 * v[i] + (T(1) - b2) * g[i] * g[i];
          const T denom = std::sqrt(v[i]) / root_bc2 + static_cast<T>(o_.eps);
          w[i] -= step_size * m[i] / denom;
        }
      });
    }
  }
  std::vector<std::pair<std::string, ir::Tensor>> state() const override { return state_.all(steps_); }
  void load_state(const std::vector<std::pair<std::string, ir::Tensor>>& s) override { steps_ = state_.load(s); }

 private:
  OptimizerOptions o_;
  SlotState state_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& o) {
  if (o.momentum < 0 || o.weight_decay < 0) throw_bad_input("momentum and weight decay must be >= 0");
  if (o.kind == "sgd") {
    if (o.nesterov && o.momentum <= 0) throw_bad_input("Nesterov momentum needs --momentum > 0");
    return std::make_unique<Sgd>(o);
  }
  if (o.kind == "adamw") {
    if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1)) throw_bad_input("AdamW betas must be in [0, 1)");
    return std::make_unique<AdamW>(o);
  }
  throw_bad_input("unknown optimizer '{}' (sgd, adamw)", o.kind);
}

}  // namespace scalec::distill
