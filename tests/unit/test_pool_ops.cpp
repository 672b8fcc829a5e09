// Pooling and resizing ops (MaxPool, AveragePool, LpPool, Global*Pool, Resize, Upsample) run through
// the Executor and checked against naive loops written straight from the ONNX spec and reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "kernels/exec/executor.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::Attribute;
using ir::GraphBuilder;
using ir::Tensor;

namespace {

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Row-major multi-index of flat index i in shape s.
std::vector<int64_t> unflatten(int64_t i, const std::vector<int64_t>& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

int64_t flatten(const std::vector<int64_t>& idx, const std::vector<int64_t>& s) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
  return f;
}

Tensor random_tensor(std::mt19937& rng, const std::vector<int64_t>& shape) {
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (float& f : v) f = u(rng);
  return Tensor::from_floats(shape, v);
}

Attribute attr_i(const std::string& n, int64_t v) { return GraphBuilder::attr(n, v); }
Attribute attr_f(const std::string& n, float v) { return GraphBuilder::attr(n, v); }
Attribute attr_s(const std::string& n, const std::string& v) { return GraphBuilder::attr(n, v); }
Attribute attr_is(const std::string& n, std::vector<int64_t> v) { return GraphBuilder::attr(n, std::move(v)); }

// Runs one node at `opset`: input 0 is fed, later inputs are initializers (nullopt: omitted).
std::vector<Tensor> run_node(const std::string& op, int64_t opset, const std::vector<std::optional<Tensor>>& inputs,
                             const std::vector<Attribute>& attrs, size_t n_outputs = 1, int threads = 2) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", opset}};
  m.graph = std::make_unique<ir::Graph>("t");
  ir::Graph& g = *m.graph;
  std::vector<ir::Value*> ins;
  kernels::NamedTensors feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      ins.push_back(nullptr);
    } else if (i == 0) {
      ins.push_back(g.create_value("x"));
      g.inputs.push_back(ins.back());
      feeds.emplace_back("x", *inputs[i]);
    } else {
      ins.push_back(g.add_initializer("in" + std::to_string(i), *inputs[i]));
    }
  }
  std::vector<ir::Value*> outs;
  for (size_t j = 0; j < n_outputs; ++j) outs.push_back(g.create_value("y" + std::to_string(j)));
  ir::Node* node = g.add_node(op, ins, outs);
  node->name = "n";
  for (const Attribute& a : attrs) node->set_attribute(a);
  for (ir::Value* v : outs) g.outputs.push_back(v);
  kernels::ExecutorOptions opts;
  opts.threads = threads;
  kernels::Executor exec(m, opts);
  std::vector<Tensor> result;
  for (auto& [name, t] : exec.run(feeds)) result.push_back(t);
  return result;
}

void check_close(const Tensor& got, const std::vector<int64_t>& shape, const std::vector<double>& ref) {
  REQUIRE(got.shape() == shape);
  REQUIRE(static_cast<size_t>(got.numel()) == ref.size());
  for (int64_t i = 0; i < got.numel(); ++i) {
    INFO("element " << i);
    CHECK(test::near(got.element_as_double(i), ref[i], 1e-5, 1e-5));
  }
}

// ---- pooling reference -------------------------------------------------------------------------

struct PoolCase {
  std::vector<int64_t> x_shape, kernel, strides, dilations, pads;
  bool ceil = false;
  std::string auto_pad = "NOTSET";
};

enum class Kind { kMax, kAvg, kLp };

// Output shape, pads, and pooled values (plus argmax indices) by the spec's formulas and plain loops.
std::vector<double> naive_pool(const Tensor& x, const PoolCase& c, Kind kind, bool include_pad, double p,
                               int64_t storage_order, std::vector<int64_t>& y_shape, std::vector<int64_t>* argmax) {
  const size_t r = c.kernel.size();
  std::vector<int64_t> in(c.x_shape.begin() + 2, c.x_shape.end()), out(r), pb(r), pe(r);
  for (size_t a = 0; a < r; ++a) {
    const int64_t s = c.strides[a], ek = (c.kernel[a] - 1) * c.dilations[a] + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[a] = static_cast<int64_t>(std::ceil(double(in[a]) / double(s)));
      const int64_t total = std::max<int64_t>(0, (out[a] - 1) * s + ek - in[a]);
      pb[a] = c.auto_pad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
      pe[a] = total - pb[a];
      continue;
    }
    pb[a] = c.pads.empty() ? 0 : c.pads[a];
    pe[a] = c.pads.empty() ? 0 : c.pads[r + a];
    const double v = double(in[a] + pb[a] + pe[a] - ek) / double(s) + 1;
    out[a] = static_cast<int64_t>(c.ceil ? std::ceil(v) : std::floor(v));
    if (c.ceil && (out[a] - 1) * s >= in[a] + pb[a]) --out[a];
  }
  y_shape = {c.x_shape[0], c.x_shape[1]};
  y_shape.insert(y_shape.end(), out.begin(), out.end());
  std::vector<double> y;
  const int64_t planes = c.x_shape[0] * c.x_shape[1], plane = numel(in);
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t of = 0; of < numel(out); ++of) {
      std::vector<int64_t> o = unflatten(of, out);
      double acc = kind == Kind::kMax ? -INFINITY : 0.0;
      int64_t valid = 0;
      std::vector<int64_t> best;
      for (int64_t kf = 0; kf < numel(c.kernel); ++kf) {
        std::vector<int64_t> k = unflatten(kf, c.kernel), pos(r);
        bool inside = true;
        for (size_t a = 0; a < r; ++a) {
          pos[a] = o[a] * c.strides[a] - pb[a] + k[a] * c.dilations[a];
          inside = inside && pos[a] >= 0 && pos[a] < in[a];
        }
        if (!inside) continue;
        ++valid;
        const double v = x.element_as_double(pl * plane + flatten(pos, in));
        if (kind == Kind::kMax && v > acc) {
          acc = v;
          best = pos;
        }
        if (kind == Kind::kAvg) acc += v;
        if (kind == Kind::kLp) acc += std::pow(std::fabs(v), p);
      }
      if (argmax) {
        std::vector<int64_t> rev_pos(best.rbegin(), best.rend()), rev_in(in.rbegin(), in.rend());
        argmax->push_back(pl * plane + (storage_order ? flatten(rev_pos, rev_in) : flatten(best, in)));
      }
      // count_include_pad divides by the whole kernel, as ONNX Runtime 1.20 and the reference do.
      if (kind == Kind::kAvg) acc /= double(include_pad ? numel(c.kernel) : valid);
      if (kind == Kind::kLp) acc = std::pow(acc, 1.0 / p);
      y.push_back(acc);
    }
  }
  return y;
}

std::vector<Attribute> pool_node_attrs(const PoolCase& c) {
  std::vector<Attribute> a = {attr_is("kernel_shape", c.kernel), attr_is("strides", c.strides),
                              attr_is("dilations", c.dilations), attr_i("ceil_mode", c.ceil)};
  if (c.auto_pad != "NOTSET") a.push_back(attr_s("auto_pad", c.auto_pad));
  if (!c.pads.empty()) a.push_back(attr_is("pads", c.pads));
  return a;
}

// A random valid pooling configuration with 1 to 3 spatial axes.
PoolCase random_pool_case(std::mt19937& rng, bool allow_auto_pad) {
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  PoolCase c;
  const int64_t r = pick(1, 3);
  c.x_shape = {pick(1, 2), pick(1, 3)};
  for (int64_t a = 0; a < r; ++a) {
    c.kernel.push_back(pick(1, 3));
    c.strides.push_back(pick(1, 3));
    c.dilations.push_back(pick(1, 2));
    c.x_shape.push_back(pick(r == 3 ? 3 : 4, r == 3 ? 6 : 9));
  }
  if (allow_auto_pad && pick(0, 3) == 0) {
    c.auto_pad = pick(0, 1) ? "SAME_UPPER" : "SAME_LOWER";
    return c;
  }
  for (int64_t i = 0; i < 2 * r; ++i) c.pads.push_back(pick(0, c.kernel[i % r] - 1));
  c.ceil = pick(0, 1) == 1;
  for (int64_t a = 0; a < r; ++a) {  // keep the padded input at least one window wide
    const int64_t ek = (c.kernel[a] - 1) * c.dilations[a] + 1;
    c.x_shape[a + 2] = std::max(c.x_shape[a + 2], ek);
  }
  return c;
}

}  // namespace

TEST_CASE("MaxPool matches a naive loop with pads, strides, dilations, ceil_mode and Indices", "[pool]") {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 60; ++iter) {
    PoolCase c = random_pool_case(rng, true);
    const int64_t order = iter % 2;
    Tensor x = random_tensor(rng, c.x_shape);
    std::vector<int64_t> shape, idx;
    std::vector<double> ref = naive_pool(x, c, Kind::kMax, false, 0, order, shape, &idx);
    std::vector<Attribute> attrs = pool_node_attrs(c);
    attrs.push_back(attr_i("storage_order", order));
    INFO("iteration " << iter << " x " << ir::shape_to_string(c.x_shape) << " auto_pad " << c.auto_pad);
    std::vector<Tensor> y = run_node("MaxPool", 12, {x}, attrs, 2, 1 + iter % 3);
    check_close(y[0], shape, ref);
    std::vector<double> ref_idx(idx.begin(), idx.end());
    check_close(y[1], shape, ref_idx);
  }
}

TEST_CASE("AveragePool matches a naive loop with and without count_include_pad", "[pool]") {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 60; ++iter) {
    PoolCase c = random_pool_case(rng, true);
    const bool include = iter % 2 == 1;
    Tensor x = random_tensor(rng, c.x_shape);
    std::vector<int64_t> shape;
    std::vector<double> ref = naive_pool(x, c, Kind::kAvg, include, 0, 0, shape, nullptr);
    std::vector<Attribute> attrs = pool_node_attrs(c);
    attrs.push_back(attr_i("count_include_pad", include));
    INFO("iteration " << iter << " x " << ir::shape_to_string(c.x_shape));
    check_close(run_node("AveragePool", 19, {x}, attrs, 1, 1 + iter % 3)[0], shape, ref);
  }
}

TEST_CASE("LpPool matches a naive loop for p = 1, 2, 3", "[pool]") {
  std::mt19937 rng(13);
  for (int iter = 0; iter < 30; ++iter) {
    PoolCase c = random_pool_case(rng, false);
    const int64_t p = 1 + iter % 3;
    Tensor x = random_tensor(rng, c.x_shape);
    std::vector<int64_t> shape;
    std::vector<double> ref = naive_pool(x, c, Kind::kLp, false, double(p), 0, shape, nullptr);
    std::vector<Attribute> attrs = pool_node_attrs(c);
    attrs.push_back(attr_i("p", p));
    INFO("iteration " << iter);
    check_close(run_node("LpPool", 18, {x}, attrs)[0], shape, ref);
  }
}

TEST_CASE("ceil_mode: count_include_pad divides by the whole kernel; windows starting in the end pad are dropped", "[pool]") {
  Tensor x = Tensor::from_floats({1, 1, 4}, std::vector<float>{1, 2, 3, 4});
  std::vector<Attribute> attrs = {attr_is("kernel_shape", {3}), attr_is("strides", {2}), attr_i("ceil_mode", 1),
                                  attr_i("count_include_pad", 1)};
  // ONNX Runtime 1.20 gives the same: [2, 7/3] and, with pads [1, 1], [1, 3, 4/3].
  check_close(run_node("AveragePool", 19, {x}, attrs)[0], {1, 1, 2}, {2.0, 7.0 / 3});
  attrs.push_back(attr_is("pads", {1, 1}));
  check_close(run_node("AveragePool", 19, {x}, attrs)[0], {1, 1, 3}, {1.0, 3.0, 4.0 / 3});
  Tensor x2 = Tensor::from_floats({1, 1, 2, 2}, std::vector<float>{1, 2, 3, 4});
  const std::vector<Attribute> drop = {attr_is("kernel_shape", {1, 1}), attr_is("strides", {2, 2}), attr_i("ceil_mode", 1)};
  check_close(run_node("MaxPool", 22, {x2}, drop)[0], {1, 1, 1, 1}, {1.0});
  check_close(run_node("AveragePool", 11, {x2}, drop)[0], {1, 1, 1, 1}, {1.0});
}

TEST_CASE("Pool and resize results do not depend on the thread count", "[pool][resize]") {
  std::mt19937 rng(41);
  Tensor x = random_tensor(rng, {2, 8, 33, 35});
  auto same_bits = [](const Tensor& a, const Tensor& b) { return a.equals(b); };
  const std::vector<Attribute> pool = {attr_is("kernel_shape", {3, 3}), attr_is("strides", {2, 2}), attr_is("pads", {1, 1, 1, 1})};
  CHECK(same_bits(run_node("AveragePool", 19, {x}, pool, 1, 1)[0], run_node("AveragePool", 19, {x}, pool, 1, 4)[0]));
  CHECK(same_bits(run_node("GlobalAveragePool", 1, {x}, {}, 1, 1)[0], run_node("GlobalAveragePool", 1, {x}, {}, 1, 3)[0]));
  for (const char* mode : {"linear", "cubic"}) {
    const std::vector<std::optional<Tensor>> in = {x, std::nullopt, Tensor::from_floats({4}, std::vector<float>{1, 1, 1.7f, 0.6f})};
    CHECK(same_bits(run_node("Resize", 19, in, {attr_s("mode", mode)}, 1, 1)[0],
                    run_node("Resize", 19, in, {attr_s("mode", mode)}, 1, 4)[0]));
  }
}

TEST_CASE("Global pools reduce every spatial axis", "[pool]") {
  std::mt19937 rng(17);
  Tensor x = random_tensor(rng, {2, 3, 4, 5, 3});
  std::vector<double> mx, avg, lp;
  for (int64_t pl = 0; pl < 6; ++pl) {
    double m = -INFINITY, s = 0, q = 0;
    for (int64_t i = 0; i < 60; ++i) {
      const double v = x.element_as_double(pl * 60 + i);
      m = std::max(m, v);
      s += v;
      q += std::pow(std::fabs(v), 3.0);
    }
    mx.push_back(m);
    avg.push_back(s / 60);
    lp.push_back(std::cbrt(q));
  }
  const std::vector<int64_t> shape = {2, 3, 1, 1, 1};
  check_close(run_node("GlobalMaxPool", 1, {x}, {})[0], shape, mx);
  check_close(run_node("GlobalAveragePool", 22, {x}, {})[0], shape, avg);
  check_close(run_node("GlobalLpPool", 2, {x}, {attr_i("p", 3)})[0], shape, lp);
  check_close(run_node("GlobalLpPool", 1, {x}, {attr_f("p", 3.0f)})[0], shape, lp);
}

TEST_CASE("MaxUnpool puts MaxPool's maxima back where its Indices say", "[pool]") {
  std::mt19937 rng(43);
  Tensor x = random_tensor(rng, {2, 3, 5, 7});
  const std::vector<Attribute> attrs = {attr_is("kernel_shape", {2, 3}), attr_is("strides", {2, 2})};
  // Indices are flat over output_shape (as in ONNX Runtime); the 5 rows cannot be inferred from 2.
  std::vector<Tensor> pooled = run_node("MaxPool", 12, {x}, attrs, 2);
  Tensor shape = Tensor::from_int64s({4}, x.shape());
  Tensor y = run_node("MaxUnpool", 11, {pooled[0], pooled[1], shape}, attrs)[0];
  std::vector<double> ref(static_cast<size_t>(x.numel()), 0.0);
  for (int64_t i = 0; i < pooled[1].numel(); ++i) {
    const int64_t at = pooled[1].values<int64_t>()[i];
    ref[static_cast<size_t>(at)] = x.element_as_double(at);
  }
  check_close(y, x.shape(), ref);
  // Without output_shape: (in - 1) * stride + kernel per spatial axis, here 4 x 7.
  Tensor x4 = random_tensor(rng, {2, 3, 4, 7});
  std::vector<Tensor> p4 = run_node("MaxPool", 12, {x4}, attrs, 2);
  Tensor y4 = run_node("MaxUnpool", 22, {p4[0], p4[1]}, attrs)[0];
  CHECK(y4.equals(run_node("MaxUnpool", 22, {p4[0], p4[1], Tensor::from_int64s({4}, x4.shape())}, attrs)[0]));
  Tensor bad = Tensor::from_int64s(pooled[1].shape(), std::vector<int64_t>(size_t(pooled[1].numel()), 1000));
  CHECK_THROWS_WITH(run_node("MaxUnpool", 11, {pooled[0], bad, shape}, attrs), Catch::Contains("index 1000 is outside"));
}

TEST_CASE("MaxPool on int8 and uint8, and NaN is skipped", "[pool]") {
  Tensor u(ir::DType::kUInt8, {1, 1, 2, 3});
  auto uv = u.mutable_values<uint8_t>();
  const uint8_t data[] = {1, 250, 3, 4, 5, 6};
  std::copy(std::begin(data), std::end(data), uv.begin());
  Tensor y = run_node("MaxPool", 12, {u}, {attr_is("kernel_shape", {2, 2})})[0];
  REQUIRE(y.dtype() == ir::DType::kUInt8);
  CHECK(y.values<uint8_t>()[0] == 250);
  CHECK(y.values<uint8_t>()[1] == 250);
  Tensor x = Tensor::from_floats({1, 1, 1, 3}, std::vector<float>{NAN, 1.0f, NAN});
  Tensor m = run_node("MaxPool", 12, {x}, {attr_is("kernel_shape", {1, 3})})[0];
  CHECK(m.values<float>()[0] == 1.0f);
}

TEST_CASE("Pooling rejects bad attributes and unsupported types with the node's name", "[pool]") {
  std::mt19937 rng(3);
  Tensor x = random_tensor(rng, {1, 1, 4, 4});
  using Catch::Contains;
  CHECK_THROWS_WITH(run_node("MaxPool", 12, {x}, {}), Contains("[MaxPool node 'n' opset 12] kernel_shape is required"));
  CHECK_THROWS_WITH(run_node("MaxPool", 12, {x}, {attr_is("kernel_shape", {5, 5})}), Contains("larger than the padded input"));
  CHECK_THROWS_WITH(run_node("AveragePool", 11, {x}, {attr_is("kernel_shape", {2})}), Contains("kernel_shape has 1 values"));
  CHECK_THROWS_WITH(run_node("AveragePool", 11, {x}, {attr_is("kernel_shape", {2, 2}), attr_s("auto_pad", "FOO")}),
                    Contains("'auto_pad' is 'FOO'"));
  CHECK_THROWS_WITH(run_node("MaxPool", 12, {x}, {attr_is("kernel_shape", {2, 2}), attr_is("strides", {0, 1})}),
                    Contains("'strides' is [0, 1]; each value must be >= 1"));
  Tensor h(ir::DType::kFloat16, {1, 1, 2, 2});
  CHECK_THROWS_WITH(run_node("AveragePool", 11, {h}, {attr_is("kernel_shape", {2, 2})}),
                    Contains("does not support element type float16"));
}

// ---- resize reference ---------------------------------------------------------------------------

namespace {

struct RefAxis {
  int64_t in = 1, out = 1;
  double scale = 1, roi_start = 0, roi_end = 1;
};

struct RefOpts {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double a = -0.75, extrapolation = 0;
  bool exclude_outside = false, antialias = false;
};

double ref_cubic(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
  return x < 2 ? a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a : 0.0;
}

// The (clamped index, weight) taps of output o along one axis, as onnx/reference/ops/op_resize.py
// computes them: coefficients for the fractional position, the n nearest indices of the
// edge-padded axis (ties to the smaller), exclude_outside. False: outside the roi.
bool ref_taps(int64_t o, const RefAxis& ax, const RefOpts& op, std::vector<std::pair<int64_t, double>>& taps) {
  const double x = double(o), in = double(ax.in), s = ax.scale, ow = s * in;
  double xo = 0;
  if (op.coord == "half_pixel") xo = (x + 0.5) / s - 0.5;
  if (op.coord == "half_pixel_symmetric") xo = in / 2 * (1 - double(ax.out) / ow) + (x + 0.5) / s - 0.5;
  if (op.coord == "pytorch_half_pixel") xo = ax.out > 1 ? (x + 0.5) / s - 0.5 : 0.0;
  if (op.coord == "align_corners") xo = ax.out == 1 ? 0 : x * (in - 1) / double(ax.out - 1);
  if (op.coord == "asymmetric") xo = x / s;
  if (op.coord == "tf_crop_and_resize") {
    const double span = (ax.roi_end - ax.roi_start) * (in - 1);
    xo = (ax.out == 1 ? span / 2 : x * span / double(ax.out - 1)) +
         ax.roi_start * (in - 1);
    if (xo < 0 || xo > in - 1) return false;
  }
  const double ratio = xo == std::floor(xo) ? 1.0 : xo - std::floor(xo);
  std::vector<double> c;
  const double sc = std::min(s, 1.0);
  if (op.mode == "nearest") {
    const std::string& m = op.nearest;
    if (ratio == 1.0 || m == "ceil" || (m == "simple" && s < 1)) c = {0, 1};
    else if (m == "floor" || m == "simple") c = {1, 0};
    else if (m == "round_prefer_floor") c = {double(ratio <= 0.5), double(ratio > 0.5)};
    else c = {double(ratio < 0.5), double(ratio >= 0.5)};
  } else if (op.mode == "linear" && !op.antialias) {
    c = {1 - ratio, ratio};
  } else if (op.mode == "cubic" && !op.antialias) {
    for (double d : {ratio + 1, ratio, 1 - ratio, 2 - ratio}) c.push_back(ref_cubic(d, op.a));
  } else {
    const double support = op.mode == "linear" ? 1 : 2;
    const int64_t start = int64_t(std::floor(-support / sc)) + 1;
    double sum = 0;
    for (int64_t i = start; i < 2 - start; ++i) {
      const double arg = sc * (double(i) - ratio);
      c.push_back(op.mode == "linear" ? std::clamp(1 - std::fabs(arg), 0.0, 1.0) : ref_cubic(arg, op.a));
      sum += c.back();
    }
    for (double& v : c) v /= sum;
  }
  const int64_t n = int64_t(c.size()), pad = (n + 1) / 2;
  std::vector<int64_t> cand;
  for (int64_t i = -pad; i < ax.in + pad; ++i) cand.push_back(i);
  std::stable_sort(cand.begin(), cand.end(), [&](int64_t p, int64_t q) {
    return std::fabs(xo - double(p)) < std::fabs(xo - double(q));
  });
  cand.resize(size_t(n));
  std::sort(cand.begin(), cand.end());
  if (op.exclude_outside) {
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += (c[j] = cand[j] < 0 || cand[j] >= ax.in ? 0 : c[j]);
    for (double& v : c) v /= sum;
  }
  taps.clear();
  for (int64_t j = 0; j < n; ++j) taps.emplace_back(std::clamp<int64_t>(cand[j], 0, ax.in - 1), c[j]);
  return true;
}

std::vector<int64_t> out_shape_of(const std::vector<RefAxis>& axes) {
  std::vector<int64_t> s;
  for (const RefAxis& a : axes) s.push_back(a.out);
  return s;
}

// Every output element of the resize, as a sum over the product of the axes' taps.
std::vector<double> naive_resize(const Tensor& x, const std::vector<RefAxis>& axes, const RefOpts& op) {
  const std::vector<int64_t> out_shape = out_shape_of(axes);
  std::vector<double> y;
  std::vector<std::vector<std::pair<int64_t, double>>> taps(axes.size());
  for (int64_t f = 0; f < numel(out_shape); ++f) {
    std::vector<int64_t> o = unflatten(f, out_shape);
    bool inside = true;
    for (size_t d = 0; d < axes.size(); ++d) inside = ref_taps(o[d], axes[d], op, taps[d]) && inside;
    if (!inside) {
      y.push_back(op.extrapolation);
      continue;
    }
    std::vector<int64_t> counts, idx(axes.size());
    for (auto& t : taps) counts.push_back(int64_t(t.size()));
    double sum = 0;
    for (int64_t k = 0; k < numel(counts); ++k) {
      std::vector<int64_t> kk = unflatten(k, counts);
      double w = 1;
      for (size_t d = 0; d < axes.size(); ++d) {
        idx[d] = taps[d][kk[d]].first;
        w *= taps[d][kk[d]].second;
      }
      if (w != 0) sum += w * x.element_as_double(flatten(idx, x.shape()));
    }
    y.push_back(sum);
  }
  return y;
}

Tensor floats_1d(const std::vector<float>& v) { return Tensor::from_floats({int64_t(v.size())}, v); }
Tensor int64s_1d(const std::vector<int64_t>& v) { return Tensor::from_int64s({int64_t(v.size())}, v); }

}  // namespace

TEST_CASE("Resize matches a per-pixel reference for every mode and coordinate transform", "[resize]") {
  std::mt19937 rng(23);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const double scale_choices[] = {0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 2.3, 3.0};
  const std::vector<std::pair<std::string, std::string>> modes = {
      {"nearest", "round_prefer_floor"}, {"nearest", "round_prefer_ceil"}, {"nearest", "floor"},
      {"nearest", "ceil"}, {"linear", ""}, {"cubic", ""}};
  int iter = 0;
  for (const char* coord : {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                            "tf_crop_and_resize"}) {
    for (const auto& [mode, nearest] : modes) {
      for (int rep = 0; rep < 3; ++rep, ++iter) {
        RefOpts op;
        op.mode = mode;
        op.coord = coord;
        if (!nearest.empty()) op.nearest = nearest;
        op.extrapolation = 10;
        op.exclude_outside = mode == "cubic" && rep == 1;
        op.a = rep == 2 ? -0.5 : -0.75;
        op.antialias = mode != "nearest" && rep == 2;
        const bool use_sizes = iter % 2 == 1;
        std::vector<RefAxis> axes(4);
        std::vector<float> scales, roi;
        std::vector<int64_t> sizes;
        for (size_t d = 0; d < 4; ++d) {
          RefAxis& a = axes[d];
          a.in = d < 2 ? pick(1, 2) : pick(1, 6);
          a.scale = d < 2 ? 1.0 : float(scale_choices[pick(0, 7)]);
          a.out = int64_t(std::floor(a.scale * double(a.in)));
          if (a.out == 0) a.out = 1, a.scale = float(1.0 / double(a.in));
          if (use_sizes) a.scale = double(a.out) / double(a.in);
          a.roi_start = d < 2 ? 0 : 0.5 * double(pick(0, 3)) / 3;
          a.roi_end = d < 2 ? 1 : 0.5 + 0.7 * double(pick(0, 3)) / 3;
          scales.push_back(float(a.scale));
          sizes.push_back(a.out);
        }
        for (const RefAxis& a : axes) roi.push_back(float(a.roi_start));
        for (const RefAxis& a : axes) roi.push_back(float(a.roi_end));
        for (size_t d = 0; d < 4; ++d) axes[d].roi_start = roi[d], axes[d].roi_end = roi[4 + d];
        Tensor x = random_tensor(rng, {axes[0].in, axes[1].in, axes[2].in, axes[3].in});
        std::vector<Attribute> attrs = {attr_s("mode", mode), attr_s("coordinate_transformation_mode", coord),
                                        attr_f("extrapolation_value", 10.0f), attr_f("cubic_coeff_a", float(op.a)),
                                        attr_i("exclude_outside", op.exclude_outside), attr_i("antialias", op.antialias)};
        if (!nearest.empty()) attrs.push_back(attr_s("nearest_mode", nearest));
        std::optional<Tensor> roi_t;
        if (std::string(coord) == "tf_crop_and_resize") roi_t = floats_1d(roi);
        std::optional<Tensor> scales_t, sizes_t;
        if (use_sizes) sizes_t = int64s_1d(sizes);
        else scales_t = floats_1d(scales);
        INFO(coord << " " << mode << " " << nearest << " rep " << rep << " x " << ir::shape_to_string(x.shape())
                   << (use_sizes ? " sizes" : " scales") << " y " << ir::shape_to_string(out_shape_of(axes)));
        Tensor y = run_node("Resize", 19, {x, roi_t, scales_t, sizes_t}, attrs, 1, 1 + iter % 3)[0];
        check_close(y, out_shape_of(axes), naive_resize(x, axes, op));
      }
    }
  }
}

TEST_CASE("Resize axes and keep_aspect_ratio_policy (opset 18)", "[resize]") {
  std::mt19937 rng(29);
  Tensor x = random_tensor(rng, {1, 2, 4, 6});
  RefOpts op;
  op.mode = "linear";
  // sizes [3, 3] on axes [-1, 2]: not_larger gives scale min(3/6, 3/4) = 0.5 on both axes.
  std::vector<RefAxis> axes = {{1, 1, 1}, {2, 2, 1}, {4, 2, 0.5}, {6, 3, 0.5}};
  Tensor y = run_node("Resize", 18, {x, std::nullopt, std::nullopt, int64s_1d({3, 3})},
                      {attr_s("mode", "linear"), attr_is("axes", {-1, 2}), attr_s("keep_aspect_ratio_policy", "not_larger")})[0];
  check_close(y, {1, 2, 2, 3}, naive_resize(x, axes, op));
  axes = {{1, 1, 1}, {2, 2, 1}, {4, 5, 1.25}, {6, 8, 1.25}};  // not_smaller: 1.25, round(7.5) = 8
  y = run_node("Resize", 18, {x, std::nullopt, std::nullopt, int64s_1d({5, 5})},
               {attr_s("mode", "linear"), attr_is("axes", {2, 3}), attr_s("keep_aspect_ratio_policy", "not_smaller")})[0];
  check_close(y, {1, 2, 5, 8}, naive_resize(x, axes, op));
}

TEST_CASE("Resize-10 and Upsample use asymmetric coordinates", "[resize]") {
  std::mt19937 rng(31);
  Tensor x = random_tensor(rng, {1, 2, 3, 4});
  RefOpts op;
  op.coord = "asymmetric";
  op.nearest = "simple";
  for (const char* mode : {"nearest", "linear"}) {
    op.mode = mode;
    std::vector<RefAxis> up = {{1, 1, 1}, {2, 2, 1}, {3, 6, 2}, {4, 12, 3}};
    std::vector<RefAxis> down = {{1, 1, 1}, {2, 2, 1}, {3, 1, 0.5}, {4, 3, 0.8f}};
    INFO(mode);
    check_close(run_node("Resize", 10, {x, floats_1d({1, 1, 0.5f, 0.8f})}, {attr_s("mode", mode)})[0], {1, 2, 1, 3},
                naive_resize(x, down, op));
    check_close(run_node("Upsample", 9, {x, floats_1d({1, 1, 2, 3})}, {attr_s("mode", mode)})[0], {1, 2, 6, 12},
                naive_resize(x, up, op));
    Attribute scales;
    scales.name = "scales";
    scales.kind = Attribute::Kind::kFloats;
    scales.floats = {1, 1, 2, 3};
    check_close(run_node("Upsample", 7, {x}, {attr_s("mode", mode), scales})[0], {1, 2, 6, 12}, naive_resize(x, up, op));
  }
  op.mode = "linear";
  std::vector<RefAxis> up = {{1, 1, 1}, {2, 2, 1}, {3, 6, 2}, {4, 12, 3}};
  check_close(run_node("Upsample", 1, {x}, {attr_s("mode", "bilinear"), attr_f("height_scale", 2), attr_f("width_scale", 3)})[0],
              {1, 2, 6, 12}, naive_resize(x, up, op));
}

TEST_CASE("Resize of integers truncates and saturates; nearest copies any element type", "[resize]") {
  Tensor u(ir::DType::kUInt8, {1, 1, 1, 4});
  const uint8_t data[] = {0, 0, 255, 255};
  std::copy(std::begin(data), std::end(data), u.mutable_values<uint8_t>().begin());
  Tensor y = run_node("Resize", 13, {u, std::nullopt, floats_1d({1, 1, 1, 2.5f})}, {attr_s("mode", "cubic")})[0];
  REQUIRE(y.dtype() == ir::DType::kUInt8);
  RefOpts op;
  op.mode = "cubic";
  std::vector<double> ref = naive_resize(u, {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {4, 10, 2.5}}, op);
  REQUIRE(*std::min_element(ref.begin(), ref.end()) < 0);  // the cubic overshoots on both sides
  REQUIRE(*std::max_element(ref.begin(), ref.end()) > 255);
  for (size_t i = 0; i < ref.size(); ++i) CHECK(y.values<uint8_t>()[i] == std::clamp(std::trunc(ref[i]), 0.0, 255.0));
  Tensor h(ir::DType::kFloat16, {1, 2});
  h.mutable_values<uint16_t>()[0] = 0x3c00;
  h.mutable_values<uint16_t>()[1] = 0x4000;
  Tensor hy = run_node("Resize", 19, {h, std::nullopt, floats_1d({1, 2})}, {})[0];
  CHECK(hy.values<uint16_t>()[1] == 0x3c00);
  CHECK(hy.values<uint16_t>()[2] == 0x4000);
}

TEST_CASE("Resize rejects inconsistent inputs and attributes", "[resize]") {
  std::mt19937 rng(37);
  Tensor x = random_tensor(rng, {1, 1, 2, 2});
  using Catch::Contains;
  const auto s = floats_1d({1, 1, 2, 2});
  const auto z = int64s_1d({1, 1, 4, 4});
  CHECK_THROWS_WITH(run_node("Resize", 13, {x, std::nullopt, s, z}, {}), Contains("exactly one of scales and sizes"));
  CHECK_THROWS_WITH(run_node("Resize", 13, {x, std::nullopt, std::nullopt, std::nullopt}, {}), Contains("exactly one"));
  CHECK_THROWS_WITH(run_node("Resize", 13, {x, std::nullopt, s}, {attr_s("mode", "area")}), Contains("'mode' is 'area'; it must be one of"));
  CHECK_THROWS_WITH(run_node("Resize", 18, {x, std::nullopt, s}, {attr_s("coordinate_transformation_mode", "half_pixel_symmetric")}),
                    Contains("not defined at this opset"));
  CHECK_THROWS_WITH(run_node("Resize", 13, {x, std::nullopt, s}, {attr_s("coordinate_transformation_mode", "tf_crop_and_resize")}),
                    Contains("needs the roi input"));
  CHECK_THROWS_WITH(run_node("Resize", 13, {x, std::nullopt, floats_1d({1, 2})}, {}), Contains("scales has 2 values, expected 4"));
  CHECK_THROWS_WITH(run_node("Resize", 13, {x, std::nullopt, floats_1d({1, 1, -2, 2})}, {}), Contains("must be positive"));
  CHECK_THROWS_WITH(run_node("Resize", 18, {x, std::nullopt, floats_1d({2})}, {attr_is("axes", {4})}), Contains("out of range"));
  CHECK_THROWS_WITH(run_node("Resize", 13, {x, std::nullopt, std::nullopt, int64s_1d({1, 1, 1 << 30, 1 << 30})}, {}),
                    Contains("would have"));
}
