#include "ir/model_stats.h"

#include <cmath>
#include <limits>

namespace scalec::ir {

namespace {

WeightStats stats_of(const std::string& name, bool from_constant, const Tensor& t) {
  WeightStats w;
  w.name = name;
  w.from_constant = from_constant;
  w.dtype = t.dtype();
  w.shape = t.shape();
  w.numel = t.numel();
  w.bytes = t.dtype() == DType::kString ? 0 : t.storage_bytes();
  if (t.dtype() == DType::kString) {
    for (const auto& s : t.strings()) w.bytes += s.size();
  }
  w.is_parameter = dtype_is_float(t.dtype());
  if (w.numel == 0 || t.dtype() == DType::kString) return w;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  double sum_abs = 0;
  int64_t zeros = 0;
  for (int64_t i = 0; i < w.numel; ++i) {
    double x = t.element_as_double(i);
    if (std::isnan(x) && !(t.dtype() == DType::kFloat || t.dtype() == DType::kDouble ||
                           t.dtype() == DType::kFloat16 || t.dtype() == DType::kBFloat16)) {
      return w;  // no numeric reading for this dtype (float8, complex)
    }
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    sum_abs += std::fabs(x);
    zeros += (x == 0);
  }
  w.has_values = true;
  w.min = lo;
  w.max = hi;
  w.mean_abs = sum_abs / static_cast<double>(w.numel);
  w.sparsity = static_cast<double>(zeros) / static_cast<double>(w.numel);
  return w;
}

// A Constant's value as a tensor; value_float(s)/value_int(s) become 1-D or scalar tensors.
std::optional<Tensor> constant_tensor(const Node& n) {
  for (const Attribute& a : n.attributes()) {
    if (a.name == "value" && a.t) return a.t;
    if (a.name == "value_float") return Tensor::from_floats({}, std::span<const float>(&a.f, 1));
    if (a.name == "value_floats") {
      return Tensor::from_floats({static_cast<int64_t>(a.floats.size())}, a.floats);
    }
    if (a.name == "value_int") return Tensor::from_int64s({}, std::span<const int64_t>(&a.i, 1));
    if (a.name == "value_ints") return Tensor::from_int64s({static_cast<int64_t>(a.ints.size())}, a.ints);
    if (a.name == "value_string") return Tensor::from_strings({}, {a.s});
    if (a.name == "value_strings") return Tensor::from_strings({static_cast<int64_t>(a.strings.size())}, a.strings);
  }
  return std::nullopt;
}

void walk(const Graph& g, ModelStats& s) {
  for (const Value* v : g.initializers) s.weights.push_back(stats_of(v->name(), false, *v->initializer));
  for (const auto& n : g.nodes()) {
    ++s.nodes;
    ++s.op_histogram[n->domain().empty() || n->domain() == "ai.onnx" ? n->op_type() : n->domain() + "::" + n->op_type()];
    if (n->op_type() == "Constant" && (n->domain().empty() || n->domain() == "ai.onnx")) {
      if (auto t = constant_tensor(*n)) {
        s.weights.push_back(stats_of(n->output(0) ? n->output(0)->name() : n->name, true, *t));
      }
    }
    for (const Attribute& a : n->attributes()) {
      if (a.g) walk(*a.g, s);
      for (const auto& sub : a.graphs) walk(*sub, s);
    }
  }
}

}  // namespace

ModelStats compute_model_stats(const Graph& graph) {
  ModelStats s;
  walk(graph, s);
  for (const auto& w : s.weights) {
    if (w.is_parameter) s.parameters += w.numel;
    s.bytes += w.bytes;
  }
  return s;
}

}  // namespace scalec::ir
