// calibrate(): one inference Executor, a tap per observed node output, graph inputs observed
// from the feeds, and batches of options.batch rows streamed from the BatchSource.
#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "calibration/calibrator.h"
#include "calibration/observer.h"
#include "ir/error.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::calibration {

namespace {

// Elements converted per step for float types other than float32, so the buffer stays small.
constexpr int64_t kConvertChunk = 1 << 14;

bool observable(ir::DType t) {
  return t == ir::DType::kFloat || t == ir::DType::kDouble || t == ir::DType::kFloat16 || t == ir::DType::kBFloat16;
}

[[noreturn]] void throw_not_float(const std::string& name, ir::DType t) {
  throw_bad_input("calibration: value '{}' is {}, not float (only float, double, float16 and bfloat16 values are "
                  "calibrated)", name, ir::dtype_name(t));
}

struct Target {
  const ir::Value* value;
  std::unique_ptr<Observer> observer;
  bool is_input;
};

void feed(Target& target, const ir::Tensor& t) {
  if (t.dtype() == ir::DType::kFloat) {
    target.observer->observe(t.values<float>());
    return;
  }
  if (!observable(t.dtype())) throw_not_float(target.value->name(), t.dtype());
  std::vector<float> buf;
  for (int64_t begin = 0; begin < t.numel(); begin += kConvertChunk) {
    const int64_t end = std::min(t.numel(), begin + kConvertChunk);
    buf.resize(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) buf[static_cast<size_t>(i - begin)] = static_cast<float>(t.element_as_double(i));
    target.observer->observe(buf);
  }
}

void check_options(const BatchSource& data, const CalibrationOptions& o) {
  if (data.samples <= 0) throw_bad_input("calibration needs at least one sample, the data holds {}", data.samples);
  if (!data.batch) throw_internal("calibration: the BatchSource has no batch function");
  if (o.batch <= 0) throw_bad_input("calibration batch size must be positive, not {}", o.batch);
  if (o.bits < 2 || o.bits > 16) throw_bad_input("calibration bits must be in 2..16, not {}", o.bits);
  if (!(o.percentile > 0 && o.percentile <= 100)) {
    throw_bad_input("calibration percentile must be in (0, 100], not {}", o.percentile);
  }
  if (o.method != Method::kMinMax && o.histogram_bins < 256) {
    throw_bad_input("calibration histograms need at least 256 bins, not {}", o.histogram_bins);
  }
}

// The main-graph value `name`, refused unless it is a graph input or a node output of a float type.
const ir::Value* resolve(const ir::Graph& g, const std::string& name) {
  const ir::Value* v = g.find_value(name);
  if (v != nullptr && v->is_initializer()) {
    throw_bad_input("calibration: '{}' is an initializer (constant data); only activations are calibrated", name);
  }
  const bool is_input = v != nullptr && std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
  if (v == nullptr || (v->producer() == nullptr && !is_input)) {
    throw_bad_input("calibration: the model has no value named '{}' (a graph input or node output)", name);
  }
  if (v->type && v->type->kind == ir::TypeInfo::Kind::kTensor && v->type->elem_type != 0 &&
      !observable(v->type->dtype())) {
    throw_not_float(name, v->type->dtype());
  }
  return v;
}

}  // namespace

CalibrationResult calibrate(const ir::Model& model, const std::vector<std::string>& values, const BatchSource& data,
                            const CalibrationOptions& options) {
  check_options(data, options);
  const ir::Graph& g = *model.graph;
  std::vector<Target> targets;
  std::set<std::string> seen;
  for (const std::string& name : values) {
    if (!seen.insert(name).second) continue;
    const ir::Value* v = resolve(g, name);
    targets.push_back({v, make_observer(options), v->producer() == nullptr});
  }
  CalibrationResult result;
  if (targets.empty()) return result;

  kernels::Executor exec(model, {.threads = options.threads, .training = false});
  for (Target& t : targets) {  // `targets` no longer grows: the taps may keep references
    if (!t.is_input) exec.add_tap(t.value, [&t](const ir::Value&, const ir::Tensor& x) { feed(t, x); });
  }
  for (int64_t begin = 0; begin < data.samples; begin += options.batch) {
    const int64_t end = std::min(data.samples, begin + options.batch);
    kernels::NamedTensors feeds = data.batch(begin, end);
    for (Target& t : targets) {
      if (!t.is_input) continue;
      auto it = std::find_if(feeds.begin(), feeds.end(), [&](const auto& f) { return f.first == t.value->name(); });
      if (it == feeds.end()) throw_bad_input("no data for model input '{}'", t.value->name());
      feed(t, it->second);
    }
    exec.run(feeds);
    result.peak_activation_bytes = std::max(result.peak_activation_bytes, exec.last_stats().peak_activation_bytes);
  }
  result.samples = data.samples;
  // The searches (mse, entropy) cost about as much per value whatever the data size: one per thread.
  std::vector<Range> ranges(targets.size());
  kernels::ThreadPool pool(options.threads);
  pool.parallel_for(static_cast<int64_t>(targets.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) ranges[static_cast<size_t>(i)] = targets[static_cast<size_t>(i)].observer->range();
  });
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    result.ranges[t.value->name()] = ranges[i];
    result.observer_bytes += t.observer->state_bytes();
    if (t.observer->nonfinite() > 0) result.nonfinite[t.value->name()] = t.observer->nonfinite();
  }
  return result;
}

}  // namespace scalec::calibration
