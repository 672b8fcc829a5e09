#include "support/gradcheck.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "ir/graph_builder.h"
#include "kernels/exec/autodiff.h"
#include "kernels/exec/executor.h"
#include "support/tolerance.h"

namespace scalec::test {

GradcheckOptions at(int64_t opset, size_t outputs) {
  GradcheckOptions o;
  o.opset = opset;
  o.num_outputs = outputs;
  return o;
}

ir::Tensor random_doubles(std::vector<int64_t> shape, uint64_t seed, double lo, double hi) {
  ir::Tensor t(ir::DType::kDouble, std::move(shape));
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  for (double& v : t.mutable_values<double>()) v = u(gen);
  return t;
}

ir::Tensor random_away_from_zero(std::vector<int64_t> shape, uint64_t seed, double gap) {
  ir::Tensor t = random_doubles(std::move(shape), seed, gap, 1.0);
  std::mt19937_64 gen(seed ^ 0x9e3779b97f4a7c15ull);
  for (double& v : t.mutable_values<double>()) v = (gen() & 1) ? v : -v;
  return t;
}

ir::Tensor int64s(std::vector<int64_t> shape, std::vector<int64_t> values) {
  return ir::Tensor::from_int64s(std::move(shape), values);
}

ir::Tensor doubles(std::vector<int64_t> shape, const std::vector<double>& values) {
  ir::Tensor t(ir::DType::kDouble, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel()) throw std::invalid_argument("doubles: one value per element");
  std::copy(values.begin(), values.end(), t.mutable_values<double>().begin());
  return t;
}

ir::Tensor bools(std::vector<int64_t> shape, const std::vector<bool>& values) {
  ir::Tensor t(ir::DType::kBool, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel()) throw std::invalid_argument("bools: one value per element");
  for (size_t i = 0; i < values.size(); ++i) t.mutable_values<bool>()[i] = values[i];
  return t;
}

namespace {

// L = sum_k <w_k, y_k>, summed in long double so the finite differences see no summation noise.
double loss_of(const kernels::NamedTensors& outs, const std::vector<ir::Tensor>& weights) {
  long double l = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    const ir::Tensor& y = outs[k].second;
    if (y.dtype() != ir::DType::kDouble) continue;
    auto yv = y.values<double>();
    auto wv = weights[k].values<double>();
    for (size_t i = 0; i < yv.size(); ++i) l += static_cast<long double>(yv[i]) * wv[i];
  }
  return static_cast<double>(l);
}

}  // namespace

std::string gradcheck_model(const ir::Model& model, const std::vector<std::pair<std::string, ir::Tensor>>& feeds,
                            const std::vector<std::string>& check, const GradcheckOptions& o) {
  std::vector<const ir::Value*> wrt;
  for (const std::string& name : check) {
    auto it = std::find_if(model.graph->inputs.begin(), model.graph->inputs.end(),
                           [&](const ir::Value* v) { return v->name() == name; });
    if (it == model.graph->inputs.end()) return fmt::format("no graph input '{}'", name);
    wrt.push_back(*it);
  }
  kernels::ExecutorOptions eo;
  eo.threads = 1;
  eo.training = true;
  kernels::Executor exec(model, eo);
  kernels::Autodiff ad(model, wrt);

  kernels::NamedTensors base = exec.run(feeds, o.seed);
  std::vector<ir::Tensor> weights;
  kernels::NamedTensors douts;
  for (size_t k = 0; k < base.size(); ++k) {
    weights.push_back(random_doubles(base[k].second.shape(), o.seed * 1000 + k));
    if (base[k].second.dtype() == ir::DType::kDouble) douts.emplace_back(base[k].first, weights.back());
  }
  std::vector<ir::Tensor> grads = ad.backward(exec, douts);

  for (size_t c = 0; c < check.size(); ++c) {
    auto feed = std::find_if(feeds.begin(), feeds.end(), [&](const auto& f) { return f.first == check[c]; });
    if (feed == feeds.end()) return fmt::format("no feed for '{}'", check[c]);
    const ir::Tensor& g = grads[c];
    if (g.dtype() != ir::DType::kDouble || g.shape() != feed->second.shape()) {
      return fmt::format("gradient of '{}' is {} {}, expected double {}", check[c], ir::dtype_name(g.dtype()),
                         ir::shape_to_string(g.shape()), ir::shape_to_string(feed->second.shape()));
    }
    auto gv = g.values<double>();
    for (int64_t i = 0; i < feed->second.numel(); ++i) {
      auto perturbed = [&](double delta) {
        kernels::NamedTensors f = feeds;
        for (auto& [name, t] : f) {
          if (name != check[c]) continue;
          ir::Tensor copy(t.dtype(), t.shape());
          std::copy(t.values<double>().begin(), t.values<double>().end(), copy.mutable_values<double>().begin());
          copy.mutable_values<double>()[i] += delta;
          t = copy;
        }
        return loss_of(exec.run(f, o.seed), weights);
      };
      const double numeric = (perturbed(o.eps) - perturbed(-o.eps)) / (2 * o.eps);
      if (!near(gv[i], numeric, o.atol, o.rtol)) {
        return fmt::format("d/d{}[{}]: backward {:.10g}, finite differences {:.10g}", check[c], i, gv[i], numeric);
      }
    }
  }
  return "";
}

std::string gradcheck(const std::string& op, const std::vector<GradInput>& inputs, std::vector<ir::Attribute> attrs,
                      const GradcheckOptions& o) {
  ir::Model model;
  model.graph = std::make_unique<ir::Graph>();
  model.opset_imports = {{"", o.opset}};
  ir::GraphBuilder b(*model.graph);
  std::vector<ir::Value*> ins;
  std::vector<std::pair<std::string, ir::Tensor>> feeds;
  std::vector<std::string> check;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const GradInput& in = inputs[i];
    std::string name = fmt::format("x{}", i);
    if (in.value.dtype() == ir::DType::kUndefined) {
      ins.push_back(nullptr);  // an omitted optional input
    } else if (in.constant) {
      ins.push_back(b.initializer(name, in.value));
    } else {
      ins.push_back(b.input(name, in.value.dtype(), in.value.shape()));
      feeds.emplace_back(name, in.value);
      if (in.check) check.push_back(name);
    }
  }
  std::vector<ir::Value*> outs = b.op_n(op, ins, o.num_outputs, std::move(attrs));
  for (ir::Value* v : outs) b.output(v);
  return gradcheck_model(model, feeds, check, o);
}

}  // namespace scalec::test
