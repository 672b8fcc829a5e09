// HessianObserver and collect_hessians(): x^T x per batch through the GEMM core in float (a batch
// holds at most a few thousand rows), added into double sums so long runs do not lose precision.
#include "calibration/hessian.h"

#include <algorithm>
#include <map>
#include <memory>

#include "ir/error.h"
#include "kernels/cpu/conv_im2col.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/exec/executor.h"

namespace scalec::calibration {

namespace {

void run_gemm(const kernels::GemmArgs<float>& g, kernels::ThreadPool* pool) {
  if (pool) {
    kernels::gemm_parallel(*pool, g);
  } else {
    kernels::gemm(g);
  }
}

}  // namespace

HessianObserver::HessianObserver(int64_t k, int64_t groups) : k_(k) {
  if (k <= 0 || groups <= 0) throw_internal("HessianObserver: bad size K={} groups={}", k, groups);
  sums_.assign(static_cast<size_t>(groups), std::vector<double>(static_cast<size_t>(k * k), 0.0));
}

void HessianObserver::add_product(const std::vector<float>& product, int64_t group) {
  std::vector<double>& sum = sums_[static_cast<size_t>(group)];
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += static_cast<double>(product[i]);
}

void HessianObserver::observe_rows(const float* x, int64_t rows, HessianWorkspace* ws) {
  if (rows <= 0) return;
  HessianWorkspace local;
  HessianWorkspace& w = ws ? *ws : local;
  w.product.resize(static_cast<size_t>(k_ * k_));
  // product = X^T X with X [rows, K].
  kernels::GemmArgs<float> g;
  g.trans_a = true;
  g.m = g.n = k_;
  g.k = rows;
  g.a = g.b = x;
  g.lda = g.ldb = k_;
  g.c = w.product.data();
  g.ldc = k_;
  run_gemm(g, w.pool);
  add_product(w.product, 0);
  rows_ += rows;
}

void HessianObserver::observe_columns(const float* x, int64_t cols, int64_t group, HessianWorkspace* ws) {
  if (cols <= 0) return;
  HessianWorkspace local;
  HessianWorkspace& w = ws ? *ws : local;
  w.product.resize(static_cast<size_t>(k_ * k_));
  // product = X X^T with X [K, cols].
  kernels::GemmArgs<float> g;
  g.trans_b = true;
  g.m = g.n = k_;
  g.k = cols;
  g.a = g.b = x;
  g.lda = g.ldb = cols;
  g.c = w.product.data();
  g.ldc = k_;
  run_gemm(g, w.pool);
  add_product(w.product, group);
  if (group == 0) rows_ += cols;
}

void HessianObserver::observe(const ir::Tensor& x, const HessianLayer& layer, HessianWorkspace* ws) {
  if (x.dtype() != ir::DType::kFloat) {
    throw_bad_input("GPTQ: the input '{}' of {} is {}, not float", layer.input, layer.node, ir::dtype_name(x.dtype()));
  }
  const float* data = x.values<float>().data();
  const std::vector<int64_t>& s = x.shape();
  switch (layer.layout) {
    case HessianLayout::kRows:
      if (x.rank() < 1 || s.back() != k_) throw_bad_input("GPTQ: input '{}' of {} is not [..., {}]", layer.input, layer.node, k_);
      observe_rows(data, x.numel() / k_, ws);
      return;
    case HessianLayout::kColumns:
      if (x.rank() != 2 || s[0] != k_) throw_bad_input("GPTQ: input '{}' of {} is not [{}, M]", layer.input, layer.node, k_);
      observe_columns(data, s[1], 0, ws);
      return;
    case HessianLayout::kConv: {
      const kernels::ConvGeometry g = kernels::conv_geometry(layer.conv, s, layer.weight_shape, layer.node);
      const int64_t cg = g.in_channels / g.groups, image = g.in_channels * kernels::conv_volume(g.in);
      const int64_t positions = kernels::conv_volume(g.out);
      if (cg * kernels::conv_volume(g.kernel) != k_) throw_internal("GPTQ: {} im2col rows {} != K {}", layer.node, cg, k_);
      HessianWorkspace local;
      HessianWorkspace& w = ws ? *ws : local;
      w.columns.resize(static_cast<size_t>(k_ * positions));
      for (int64_t n = 0; n < g.batch; ++n) {
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          const float* img = data + n * image + grp * cg * kernels::conv_volume(g.in);
          kernels::im2col(img, cg, g, g.in, g.out, w.columns.data());
          HessianObserver::observe_columns(w.columns.data(), positions, grp, &w);
        }
      }
      return;
    }
  }
}

std::vector<double> HessianObserver::hessian(int64_t group) const {
  std::vector<double> h = sums_.at(static_cast<size_t>(group));
  if (rows_ > 0) {
    const double f = 2.0 / static_cast<double>(rows_);
    for (double& v : h) v *= f;
  }
  return h;
}

std::vector<std::vector<double>> HessianObserver::take_hessians() {
  std::vector<std::vector<double>> hs = std::move(sums_);
  sums_.clear();
  const double f = rows_ > 0 ? 2.0 / static_cast<double>(rows_) : 1.0;
  for (std::vector<double>& h : hs) {
    for (double& v : h) v *= f;
  }
  return hs;
}

size_t HessianObserver::state_bytes() const { return sums_.size() * static_cast<size_t>(k_ * k_) * sizeof(double); }

HessianResult collect_hessians(const ir::Model& model, const std::vector<HessianLayer>& layers, const BatchSource& data,
                               const CalibrationOptions& options) {
  if (data.samples <= 0) throw_bad_input("GPTQ needs at least one calibration sample, the data holds {}", data.samples);
  if (options.batch <= 0) throw_bad_input("calibration batch size must be positive, not {}", options.batch);
  const ir::Graph& g = *model.graph;
  HessianResult result;
  result.observers.reserve(layers.size());
  std::map<const ir::Value*, std::vector<size_t>> by_value;
  for (size_t i = 0; i < layers.size(); ++i) {
    const HessianLayer& l = layers[i];
    const ir::Value* v = g.find_value(l.input);
    const bool is_input = v != nullptr && std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
    if (v == nullptr || v->is_initializer() || (v->producer() == nullptr && !is_input)) {
      throw_bad_input("GPTQ: {} reads '{}', which is not a graph input or node output", l.node, l.input);
    }
    const int64_t groups = l.layout == HessianLayout::kConv && l.conv.group > 0 ? l.conv.group : 1;
    result.observers.emplace_back(l.k, groups);
    by_value[v].push_back(i);
  }
  kernels::Executor exec(model, {.threads = options.threads, .training = false});
  kernels::ThreadPool pool(options.threads);  // taps run between nodes, while the executor's pool is idle
  HessianWorkspace ws{&pool, {}, {}};
  for (const auto& [value, layer_indices] : by_value) {
    if (value->producer() == nullptr) continue;
    const std::vector<size_t>& idx = layer_indices;  // clang 14 cannot capture a structured binding
    exec.add_tap(value, [&result, &layers, &ws, idx](const ir::Value&, const ir::Tensor& x) {
      for (size_t i : idx) result.observers[i].observe(x, layers[i], &ws);
    });
  }
  for (int64_t begin = 0; begin < data.samples; begin += options.batch) {
    const int64_t end = std::min(data.samples, begin + options.batch);
    kernels::NamedTensors feeds = data.batch(begin, end);
    for (const auto& [input_value, idx] : by_value) {
      const ir::Value* value = input_value;  // clang 14 cannot capture a structured binding
      if (value->producer() != nullptr) continue;
      auto it = std::find_if(feeds.begin(), feeds.end(), [&](const auto& f) { return f.first == value->name(); });
      if (it == feeds.end()) throw_bad_input("no data for model input '{}'", value->name());
      for (size_t i : idx) result.observers[i].observe(it->second, layers[i], &ws);
    }
    exec.run(feeds);
  }
  result.samples = data.samples;
  result.state_bytes = ws.bytes();
  for (const HessianObserver& o : result.observers) result.state_bytes += o.state_bytes();
  return result;
}

}  // namespace scalec::calibration
