// nn ops (Gemm, MatMul, Conv, ConvTranspose) through the Executor against naive loops, on the
// combinations the ONNX node tests leave out: groups, depthwise, dilations, strides, asymmetric
// pads, auto_pad, 1-D and 3-D, output_padding/output_shape, batch broadcasting, integer types,
// both thread-pool paths (parallel over tasks, and one product split over the pool).
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "kernels/cpu/gemm.h"
#include "kernels/exec/executor.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::Attribute;
using ir::DType;
using ir::GraphBuilder;
using ir::Tensor;

namespace {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// A tensor of `dtype` (float, double, int32 or int64) with deterministic values in [-2, 2].
Tensor random_tensor(DType dtype, const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  Tensor t(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = u(rng);
    if (dtype == DType::kFloat) t.mutable_values<float>()[static_cast<size_t>(i)] = static_cast<float>(v);
    else if (dtype == DType::kDouble) t.mutable_values<double>()[static_cast<size_t>(i)] = v;
    else if (dtype == DType::kInt32) t.mutable_values<int32_t>()[static_cast<size_t>(i)] = static_cast<int32_t>(std::lround(v));
    else if (dtype == DType::kInt64) t.mutable_values<int64_t>()[static_cast<size_t>(i)] = std::lround(v);
  }
  return t;
}

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.element_as_double(i);
  return out;
}

// Runs one node whose inputs are initializers (nullopt: an omitted input) at `opset`.
Tensor run_node(const std::string& op, const std::vector<std::optional<Tensor>>& inputs, std::vector<Attribute> attrs,
                int64_t opset = 17, int threads = 2) {
  ir::Model model;
  model.ir_version = 8;
  model.opset_imports = {{"", opset}};
  model.graph = std::make_unique<ir::Graph>("main");
  GraphBuilder b(*model.graph);
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ins.push_back(inputs[i] ? b.initializer("in" + std::to_string(i), *inputs[i]) : nullptr);
  }
  b.output(b.op(op, ins, std::move(attrs)));
  kernels::Executor exec(model, {threads});
  return exec.run({}).front().second;
}

void check_close(const Tensor& got, const std::vector<double>& ref, const Shape& shape, double tol) {
  REQUIRE(got.shape() == shape);
  REQUIRE(static_cast<int64_t>(ref.size()) == got.numel());
  int bad = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (!test::near(got.element_as_double(i), ref[static_cast<size_t>(i)], tol, tol)) ++bad;
  }
  CHECK(bad == 0);
}

// One spatial dim of a convolution case: input size, kernel, stride, dilation, pads.
struct Dim1 {
  int64_t in, k, s = 1, d = 1, pb = 0, pe = 0;
};

// The convolution geometry a case resolves to, padded to 3 dims (leading size-1 dims).
struct Geo {
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, out{1, 1, 1};
};

Geo conv_geo(const std::vector<Dim1>& dims, const std::string& auto_pad) {
  Geo g;
  const size_t lead = 3 - dims.size();
  for (size_t i = 0; i < dims.size(); ++i) {
    const Dim1& d = dims[i];
    const size_t j = lead + i;
    g.in[j] = d.in, g.k[j] = d.k, g.s[j] = d.s, g.d[j] = d.d;
    const int64_t eff = (d.k - 1) * d.d + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[j] = (d.in + d.s - 1) / d.s;
      const int64_t total = std::max<int64_t>(0, (g.out[j] - 1) * d.s + eff - d.in);
      g.pb[j] = auto_pad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
    } else if (auto_pad == "VALID") {
      g.out[j] = (d.in - eff) / d.s + 1;
    } else {
      g.pb[j] = d.pb;
      g.out[j] = (d.in + d.pb + d.pe - eff) / d.s + 1;
    }
  }
  return g;
}

// The naive 7-loop Conv: y[n, m, o] = b[m] + sum_{c in group, k} x[n, c, o*s - p + k*d] * w[m, c, k].
std::vector<double> conv_reference(const Tensor& x, const Tensor& w, const Tensor* bias, int64_t group, const Geo& g,
                                   int64_t& n_out, int64_t& m_out) {
  const int64_t N = x.shape()[0], C = x.shape()[1], M = w.shape()[0], cg = C / group, mg = M / group;
  const auto X = as_doubles(x), Wt = as_doubles(w);
  const auto B = bias ? as_doubles(*bias) : std::vector<double>(static_cast<size_t>(M), 0.0);
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            double acc = B[static_cast<size_t>(m)];
            const int64_t grp = m / mg;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
                    const int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                    const int64_t i1 = o1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                    const int64_t i2 = o2 * g.s[2] - g.pb[2] + k2 * g.d[2];
                    if (i0 < 0 || i0 >= g.in[0] || i1 < 0 || i1 >= g.in[1] || i2 < 0 || i2 >= g.in[2]) continue;
                    const int64_t xi = (((n * C + grp * cg + c) * g.in[0] + i0) * g.in[1] + i1) * g.in[2] + i2;
                    const int64_t wi = (((m * cg + c) * g.k[0] + k0) * g.k[1] + k1) * g.k[2] + k2;
                    acc += X[static_cast<size_t>(xi)] * Wt[static_cast<size_t>(wi)];
                  }
            y.push_back(acc);
          }
  n_out = N, m_out = M;
  return y;
}

struct ConvCase {
  std::string name;
  int64_t n, c, m, group;
  std::vector<Dim1> dims;
  std::string auto_pad = "NOTSET";
  bool bias = true;
  DType dtype = DType::kFloat;
  int threads = 2;
};

void check_conv(const ConvCase& cc, uint32_t seed) {
  INFO("case " << cc.name);
  Shape xs{cc.n, cc.c}, ws{cc.m, cc.c / cc.group};
  std::vector<int64_t> strides, dilations, pads_b, pads_e;
  for (const Dim1& d : cc.dims) {
    xs.push_back(d.in), ws.push_back(d.k);
    strides.push_back(d.s), dilations.push_back(d.d), pads_b.push_back(d.pb), pads_e.push_back(d.pe);
  }
  pads_b.insert(pads_b.end(), pads_e.begin(), pads_e.end());
  Tensor x = random_tensor(cc.dtype, xs, seed), w = random_tensor(cc.dtype, ws, seed + 1);
  Tensor b = random_tensor(cc.dtype, {cc.m}, seed + 2);
  std::vector<Attribute> attrs = {GraphBuilder::attr("group", cc.group), GraphBuilder::attr("strides", strides),
                                  GraphBuilder::attr("dilations", dilations)};
  if (cc.auto_pad == "NOTSET") attrs.push_back(GraphBuilder::attr("pads", pads_b));
  else attrs.push_back(GraphBuilder::attr("auto_pad", cc.auto_pad));
  Tensor y = run_node("Conv", {x, w, cc.bias ? std::optional<Tensor>(b) : std::nullopt}, attrs, 17, cc.threads);
  const Geo g = conv_geo(cc.dims, cc.auto_pad);
  int64_t n = 0, m = 0;
  const auto ref = conv_reference(x, w, cc.bias ? &b : nullptr, cc.group, g, n, m);
  Shape ys{n, m};
  for (size_t i = 3 - cc.dims.size(); i < 3; ++i) ys.push_back(g.out[i]);
  check_close(y, ref, ys, cc.dtype == DType::kDouble ? 1e-10 : 1e-4);
}

}  // namespace

TEST_CASE("Conv matches the naive loop over groups, strides, dilations, pads, 1-D to 3-D", "[nn_ops]") {
  const std::vector<ConvCase> cases = {
      {"2d plain", 2, 3, 4, 1, {{7, 3}, {6, 2}}},
      {"2d 3x3 stride 2 asym pads", 2, 4, 6, 1, {{9, 3, 2, 1, 1, 0}, {8, 3, 2, 1, 0, 2}}},
      {"2d dilated", 1, 2, 3, 1, {{10, 3, 1, 2, 2, 2}, {9, 2, 1, 3, 1, 0}}},
      {"2d groups=2", 2, 4, 6, 2, {{6, 3, 1, 1, 1, 1}, {5, 3, 1, 1, 1, 1}}},
      {"2d depthwise", 2, 5, 5, 5, {{8, 3, 2, 1, 1, 1}, {8, 3, 1, 1, 1, 1}}},
      {"2d depthwise multiplier 2", 1, 3, 6, 3, {{6, 2, 1, 2, 0, 1}, {7, 3, 2, 1, 1, 0}}},
      {"2d depthwise stride 3 dilated big pads", 2, 4, 4, 4, {{11, 3, 3, 2, 3, 1}, {9, 2, 2, 3, 0, 4}}},
      {"2d depthwise stride 2 one column", 1, 3, 3, 3, {{9, 3, 2, 1, 1, 1}, {1, 1, 2, 1, 0, 0}}},
      {"1d depthwise strided", 2, 3, 3, 3, {{12, 3, 2, 1, 1, 2}}},
      {"2d depthwise double", 1, 2, 2, 2, {{7, 3, 2, 1, 1, 1}, {6, 3, 1, 2, 2, 0}}, "NOTSET", true, DType::kDouble},
      // Output planes wider than one column tile (K = 576): full, partial and padded tiles.
      {"2d column tiles", 1, 64, 8, 1, {{30, 3, 1, 1, 1, 1}, {30, 3, 1, 1, 1, 1}}},
      {"2d column tiles strided", 2, 64, 8, 1, {{61, 3, 2, 1, 1, 1}, {59, 3, 2, 1, 0, 1}}, "NOTSET", false},
      {"2d 1x1 direct", 3, 8, 5, 1, {{4, 1}, {5, 1}}, "NOTSET", false},
      {"2d 1x1 stride 2", 1, 4, 3, 1, {{5, 1, 2}, {6, 1, 2}}},
      {"2d pads larger than kernel", 1, 2, 2, 1, {{3, 2, 1, 1, 3, 2}, {3, 2, 1, 1, 2, 3}}},
      {"2d SAME_UPPER stride 2", 1, 3, 4, 1, {{7, 3, 2, 1}, {8, 4, 2, 1}}, "SAME_UPPER"},
      {"2d SAME_LOWER stride 2", 1, 3, 4, 1, {{7, 3, 2, 1}, {8, 4, 2, 1}}, "SAME_LOWER"},
      {"2d SAME_LOWER dilated", 2, 2, 2, 1, {{6, 3, 1, 2}, {7, 2, 1, 3}}, "SAME_LOWER"},
      {"2d VALID", 1, 3, 2, 1, {{7, 3, 2, 1}, {6, 2, 1, 2}}, "VALID"},
      {"1d strided dilated grouped", 3, 4, 8, 2, {{13, 3, 2, 2, 1, 2}}},
      {"1d SAME_UPPER", 2, 2, 3, 1, {{9, 4, 3, 1}}, "SAME_UPPER", false},
      {"3d plain", 1, 2, 3, 1, {{4, 2}, {5, 3}, {4, 2}}},
      {"3d strided padded grouped", 2, 4, 4, 2, {{5, 3, 2, 1, 1, 0}, {6, 2, 1, 2, 0, 1}, {5, 3, 2, 1, 1, 1}}},
      {"3d SAME_LOWER double", 1, 2, 2, 1, {{5, 2, 2, 1}, {4, 3, 1, 1}, {3, 2, 1, 2}}, "SAME_LOWER", true, DType::kDouble},
      {"2d double grouped", 2, 6, 3, 3, {{6, 3, 2, 2, 2, 1}, {6, 2, 1, 1, 0, 1}}, "NOTSET", true, DType::kDouble},
      // N = 1, group = 1 and a product above kGemmParallelMacs: the GEMM itself is split.
      {"2d large single task", 1, 16, 32, 1, {{20, 3, 1, 1, 1, 1}, {21, 3, 1, 1, 1, 1}}},
      {"2d single thread", 2, 4, 4, 2, {{6, 3, 1, 1, 1, 1}, {6, 3, 2, 1, 0, 0}}, "NOTSET", true, DType::kFloat, 1},
  };
  uint32_t seed = 1;
  for (const ConvCase& cc : cases) check_conv(cc, seed += 7);
}

TEST_CASE("Conv rejects bad shapes and attributes with the node named", "[nn_ops]") {
  Tensor x = random_tensor(DType::kFloat, {1, 4, 5, 5}, 3), w = random_tensor(DType::kFloat, {6, 2, 3, 3}, 4);
  auto throws_with = [&](const Tensor& xx, const Tensor& ww, std::vector<Attribute> attrs, const std::string& text) {
    try {
      run_node("Conv", {xx, ww}, std::move(attrs));
      FAIL("no error for: " << text);
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kBadInput);
      CHECK_THAT(e.what(), Catch::Contains("[Conv node 'Conv_0' opset 17]") && Catch::Contains(text));
    }
  };
  throws_with(x, w, {}, "channels");  // group 1 needs W[1] == 4
  throws_with(x, w, {GraphBuilder::attr("group", int64_t{2}), GraphBuilder::attr("kernel_shape", Shape{2, 2})},
              "kernel_shape");
  throws_with(x, w, {GraphBuilder::attr("group", int64_t{2}), GraphBuilder::attr("strides", Shape{1})}, "strides");
  throws_with(x, w, {GraphBuilder::attr("group", int64_t{2}), GraphBuilder::attr("auto_pad", std::string("SAME"))},
              "auto_pad");
  throws_with(x, random_tensor(DType::kFloat, {6, 2, 7, 3}, 5), {GraphBuilder::attr("group", int64_t{2})}, "larger");
  throws_with(random_tensor(DType::kFloat, {1, 1, 2, 2, 2, 2}, 1), random_tensor(DType::kFloat, {1, 1, 1, 1, 1, 1}, 2),
              {}, "4-D convolution is not implemented");
  throws_with(Tensor(DType::kFloat16, {1, 4, 5, 5}), Tensor(DType::kFloat16, {6, 2, 3, 3}),
              {GraphBuilder::attr("group", int64_t{2})}, "does not support element type float16");
}

namespace {

struct ConvTransposeCase {
  std::string name;
  int64_t n, c, m, group;
  std::vector<Dim1> dims;
  std::string auto_pad = "NOTSET";
  Shape output_padding = {};
  Shape output_shape = {};
  bool bias = true;
  DType dtype = DType::kFloat;
};

// The naive scatter: y[n, g*mg + m, i*s - p + k*d] += x[n, g*cg + c, i] * w[g*cg + c, m, k], then + b.
void check_conv_transpose(const ConvTransposeCase& cc, uint32_t seed) {
  INFO("case " << cc.name);
  const size_t rank = cc.dims.size(), lead = 3 - rank;
  const int64_t cg = cc.c / cc.group, mg = cc.m / cc.group;
  Shape xs{cc.n, cc.c}, ws{cc.c, mg}, strides, dilations, pads;
  Geo g;
  for (size_t i = 0; i < rank; ++i) {
    const Dim1& d = cc.dims[i];
    const size_t j = lead + i;
    xs.push_back(d.in), ws.push_back(d.k), strides.push_back(d.s), dilations.push_back(d.d), pads.push_back(d.pb);
    g.in[j] = d.in, g.k[j] = d.k, g.s[j] = d.s, g.d[j] = d.d;
    const int64_t op = cc.output_padding.empty() ? 0 : cc.output_padding[i];
    const int64_t full = d.s * (d.in - 1) + op + (d.k - 1) * d.d + 1;
    const bool same = cc.auto_pad == "SAME_UPPER" || cc.auto_pad == "SAME_LOWER";
    if (!cc.output_shape.empty() || same) {
      g.out[j] = cc.output_shape.empty() ? d.in * d.s : cc.output_shape[i];
      const int64_t total = full - g.out[j];
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor(total / 2)
      g.pb[j] = cc.auto_pad == "SAME_UPPER" ? half : total - half;
    } else {
      g.pb[j] = d.pb;
      g.out[j] = full - d.pb - d.pe;
    }
  }
  for (const Dim1& d : cc.dims) pads.push_back(d.pe);
  Tensor x = random_tensor(cc.dtype, xs, seed), w = random_tensor(cc.dtype, ws, seed + 1);
  Tensor b = random_tensor(cc.dtype, {cc.m}, seed + 2);
  std::vector<Attribute> attrs = {GraphBuilder::attr("group", cc.group), GraphBuilder::attr("strides", strides),
                                  GraphBuilder::attr("dilations", dilations)};
  if (cc.auto_pad == "NOTSET") attrs.push_back(GraphBuilder::attr("pads", pads));
  else attrs.push_back(GraphBuilder::attr("auto_pad", cc.auto_pad));
  if (!cc.output_padding.empty()) attrs.push_back(GraphBuilder::attr("output_padding", cc.output_padding));
  if (!cc.output_shape.empty()) attrs.push_back(GraphBuilder::attr("output_shape", cc.output_shape));
  Tensor y = run_node("ConvTranspose", {x, w, cc.bias ? std::optional<Tensor>(b) : std::nullopt}, attrs);

  const auto X = as_doubles(x), Wt = as_doubles(w), B = as_doubles(b);
  const int64_t out_plane = g.out[0] * g.out[1] * g.out[2];
  std::vector<double> ref(static_cast<size_t>(cc.n * cc.m * out_plane), 0.0);
  for (int64_t n = 0; n < cc.n; ++n)
    for (int64_t ci = 0; ci < cc.c; ++ci)
      for (int64_t i0 = 0; i0 < g.in[0]; ++i0)
        for (int64_t i1 = 0; i1 < g.in[1]; ++i1)
          for (int64_t i2 = 0; i2 < g.in[2]; ++i2)
            for (int64_t m = 0; m < mg; ++m)
              for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
                    const int64_t o0 = i0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                    const int64_t o1 = i1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                    const int64_t o2 = i2 * g.s[2] - g.pb[2] + k2 * g.d[2];
                    if (o0 < 0 || o0 >= g.out[0] || o1 < 0 || o1 >= g.out[1] || o2 < 0 || o2 >= g.out[2]) continue;
                    const int64_t mo = (ci / cg) * mg + m;
                    const int64_t yi = (((n * cc.m + mo) * g.out[0] + o0) * g.out[1] + o1) * g.out[2] + o2;
                    const int64_t xi = (((n * cc.c + ci) * g.in[0] + i0) * g.in[1] + i1) * g.in[2] + i2;
                    const int64_t wi = (((ci * mg + m) * g.k[0] + k0) * g.k[1] + k1) * g.k[2] + k2;
                    ref[static_cast<size_t>(yi)] += X[static_cast<size_t>(xi)] * Wt[static_cast<size_t>(wi)];
                  }
  if (cc.bias) {
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += B[(i / static_cast<size_t>(out_plane)) % static_cast<size_t>(cc.m)];
  }
  Shape ys{cc.n, cc.m};
  for (size_t i = lead; i < 3; ++i) ys.push_back(g.out[i]);
  check_close(y, ref, ys, cc.dtype == DType::kDouble ? 1e-10 : 1e-4);
}

}  // namespace

TEST_CASE("ConvTranspose matches the naive scatter", "[nn_ops]") {
  const std::vector<ConvTransposeCase> cases = {
      {"2d plain", 2, 3, 2, 1, {{4, 3}, {3, 2}}},
      {"2d stride 2 pads", 1, 2, 3, 1, {{4, 3, 2, 1, 1, 0}, {5, 3, 2, 1, 1, 1}}},
      {"2d stride 3 dilated", 2, 2, 2, 1, {{3, 2, 3, 2, 0, 1}, {3, 3, 2, 2, 2, 0}}},
      {"2d groups=2", 2, 4, 6, 2, {{4, 3, 2, 1, 1, 1}, {3, 2, 1, 1, 0, 0}}},
      {"2d depthwise", 1, 3, 3, 3, {{4, 3, 2, 1}, {4, 3, 2, 1}}},
      {"2d output_padding", 1, 2, 2, 1, {{3, 3, 2, 1, 1, 1}, {3, 3, 3, 1, 0, 0}}, "NOTSET", {1, 2}},
      {"2d output_shape smaller", 1, 2, 3, 1, {{3, 3, 2}, {4, 2, 2}}, "NOTSET", {}, {6, 7}},
      {"2d output_shape larger", 1, 2, 3, 1, {{3, 3, 3}, {3, 3, 2}}, "NOTSET", {}, {10, 8}},
      {"2d output_shape SAME_UPPER", 1, 1, 2, 1, {{3, 3, 2}, {3, 3, 2}}, "SAME_UPPER", {0, 1}, {6, 5}},
      {"2d SAME_UPPER", 1, 2, 2, 1, {{3, 3, 2}, {4, 4, 2}}, "SAME_UPPER"},
      {"2d SAME_LOWER", 1, 2, 2, 1, {{3, 3, 2}, {4, 4, 2}}, "SAME_LOWER"},
      // Stride beyond the kernel: the spec's size in * stride exceeds the full result (total < 0).
      {"1d SAME_UPPER stride > kernel", 1, 1, 2, 1, {{4, 1, 3}}, "SAME_UPPER"},
      {"2d SAME_LOWER stride > kernel", 1, 2, 2, 2, {{3, 2, 3}, {3, 1, 2}}, "SAME_LOWER", {1, 0}},
      {"1d output_shape larger SAME_UPPER", 1, 2, 1, 1, {{3, 3, 1}}, "SAME_UPPER", {}, {8}},
      {"2d 1x1", 2, 4, 3, 1, {{3, 1}, {4, 1}}, "NOTSET", {}, {}, false},
      {"1d grouped dilated", 2, 4, 4, 2, {{5, 3, 2, 2, 1, 2}}},
      {"3d", 1, 2, 2, 1, {{2, 2, 2}, {3, 2, 1, 1, 1, 0}, {2, 3, 1, 2}}},
      {"3d grouped double", 1, 4, 2, 2, {{2, 2, 1}, {3, 2, 2}, {2, 2, 2, 1, 1, 1}}, "NOTSET", {0, 1, 1}, {}, true,
       DType::kDouble},
      {"2d large", 1, 32, 16, 1, {{12, 3, 2, 1, 1, 1}, {12, 3, 2, 1, 1, 1}}},
  };
  uint32_t seed = 100;
  for (const ConvTransposeCase& cc : cases) check_conv_transpose(cc, seed += 5);

  // output_shape may also be written [N, M, spatial...]; bad channel counts name the node.
  Tensor x = random_tensor(DType::kFloat, {1, 2, 3, 3}, 1), w = random_tensor(DType::kFloat, {2, 3, 3, 3}, 2);
  const auto strides = GraphBuilder::attr("strides", Shape{2, 2});
  Tensor spatial = run_node("ConvTranspose", {x, w}, {strides, GraphBuilder::attr("output_shape", Shape{6, 6})});
  Tensor full = run_node("ConvTranspose", {x, w}, {strides, GraphBuilder::attr("output_shape", Shape{1, 3, 6, 6})});
  CHECK(full.equals(spatial));
  CHECK_THROWS_WITH(run_node("ConvTranspose", {random_tensor(DType::kFloat, {1, 3, 3, 3}, 3), w}, {}),
                    Catch::Contains("[ConvTranspose node 'ConvTranspose_0' opset 17] X has 3 channels"));
  CHECK_THROWS_WITH(run_node("ConvTranspose", {x, w}, {GraphBuilder::attr("output_padding", Shape{1})}),
                    Catch::Contains("output_padding has 1 values, expected 2"));
}

namespace {

// numpy.matmul by the definition, in double, for shapes that already broadcast.
std::vector<double> matmul_reference(const Tensor& a, const Tensor& b, Shape& out_shape) {
  Shape sa = a.shape(), sb = b.shape();
  const bool av = sa.size() == 1, bv = sb.size() == 1;
  if (av) sa.insert(sa.begin(), 1);
  if (bv) sb.push_back(1);
  const size_t rank = std::max(sa.size(), sb.size());
  while (sa.size() < rank) sa.insert(sa.begin(), 1);
  while (sb.size() < rank) sb.insert(sb.begin(), 1);
  const int64_t M = sa[rank - 2], K = sa[rank - 1], N = sb[rank - 1];
  Shape batch;
  for (size_t i = 0; i + 2 < rank; ++i) batch.push_back(std::max(sa[i], sb[i]));
  out_shape = batch;
  if (!av) out_shape.push_back(M);
  if (!bv) out_shape.push_back(N);
  const auto A = as_doubles(a), B = as_doubles(b);
  std::vector<double> y;
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t t = 0; t < numel(batch); ++t) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      oa = oa * sa[d] + (sa[d] == 1 ? 0 : idx[d]);
      ob = ob * sb[d] + (sb[d] == 1 ? 0 : idx[d]);
    }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) {
          acc += A[static_cast<size_t>((oa * M + i) * K + k)] * B[static_cast<size_t>((ob * K + k) * N + j)];
        }
        y.push_back(acc);
      }
    for (size_t d = batch.size(); d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

}  // namespace

TEST_CASE("MatMul broadcasts batch dimensions and handles 1-D operands like numpy", "[nn_ops]") {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 1, 3, 4}, {5, 4, 2}}, {{5, 4, 2}, {2, 1, 2, 3}}, {{3, 4}, {4, 5}},     {{6, 3, 4}, {4, 5}},
      {{4}, {4}},                {{4}, {2, 4, 3}},          {{2, 3, 4}, {4}},     {{1, 3, 4}, {2, 4, 2}},
      {{2, 3, 1, 4}, {3, 4, 2}}, {{3, 0, 4}, {4, 2}},       {{2, 3, 0}, {0, 5}},  {{64, 70}, {70, 80}},
      {{1, 96}, {3, 96, 128}},   {{2, 40, 50}, {2, 50, 60}}};
  uint32_t seed = 200;
  for (DType dtype : {DType::kFloat, DType::kDouble, DType::kInt64, DType::kInt32}) {
    for (const auto& [sa, sb] : shapes) {
      INFO(ir::shape_to_string(sa) << " x " << ir::shape_to_string(sb) << " " << ir::dtype_name(dtype));
      Tensor a = random_tensor(dtype, sa, ++seed), b = random_tensor(dtype, sb, ++seed);
      Shape ys;
      const auto ref = matmul_reference(a, b, ys);
      check_close(run_node("MatMul", {a, b}, {}, 13), ref, ys, dtype == DType::kFloat ? 1e-4 : 1e-10);
    }
  }
  CHECK_THROWS_WITH(run_node("MatMul", {random_tensor(DType::kFloat, {2, 3}, 1), random_tensor(DType::kFloat, {4, 2}, 2)}, {}),
                    Catch::Contains("[MatMul node 'MatMul_0' opset 17]") && Catch::Contains("K = 3 vs 4"));
  CHECK_THROWS_WITH(run_node("MatMul", {random_tensor(DType::kFloat, {2, 2, 3}, 1),
                                        random_tensor(DType::kFloat, {3, 3, 2}, 2)}, {}),
                    Catch::Contains("cannot be broadcast"));
}

namespace {

// y = alpha * op(a) op(b) + beta * c (c broadcast from [cm, cn]), by the definition.
std::vector<double> gemm_reference(const Tensor& a, const Tensor& b, const Tensor* c, bool ta, bool tb, double alpha,
                                   double beta) {
  const int64_t M = a.shape()[ta ? 1 : 0], K = a.shape()[ta ? 0 : 1], N = b.shape()[tb ? 0 : 1];
  const auto A = as_doubles(a), B = as_doubles(b);
  const auto C = c ? as_doubles(*c) : std::vector<double>{};
  Shape cs = c ? c->shape() : Shape{};
  while (cs.size() < 2) cs.insert(cs.begin(), 1);
  std::vector<double> y;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        acc += A[static_cast<size_t>(ta ? k * M + i : i * K + k)] * B[static_cast<size_t>(tb ? j * K + k : k * N + j)];
      }
      double cv = c ? C[static_cast<size_t>((cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j))] : 0.0;
      y.push_back(alpha * acc + beta * cv);
    }
  return y;
}

}  // namespace

TEST_CASE("Gemm: transposes, alpha, beta and C broadcast to [M, N]", "[nn_ops]") {
  const int64_t M = 5, K = 7, N = 4;
  uint32_t seed = 300;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (const Shape& cs : std::vector<Shape>{{M, N}, {N}, {M, 1}, {1, N}, {1}, {}}) {
        INFO("transA " << ta << " transB " << tb << " C " << ir::shape_to_string(cs));
        Tensor a = random_tensor(DType::kFloat, ta ? Shape{K, M} : Shape{M, K}, ++seed);
        Tensor b = random_tensor(DType::kFloat, tb ? Shape{N, K} : Shape{K, N}, ++seed);
        Tensor c = random_tensor(DType::kFloat, cs, ++seed);
        std::vector<Attribute> attrs = {GraphBuilder::attr("transA", int64_t{ta}), GraphBuilder::attr("transB", int64_t{tb}),
                                        GraphBuilder::attr("alpha", 0.5f), GraphBuilder::attr("beta", -1.5f)};
        check_close(run_node("Gemm", {a, b, c}, attrs, 13), gemm_reference(a, b, &c, ta, tb, 0.5, -1.5), {M, N}, 1e-4);
      }
    }
  }
  // No C (opset 11+), a large product split over the pool, integer types, the opset 6 broadcast rule.
  Tensor a = random_tensor(DType::kDouble, {96, 80}, 1), b = random_tensor(DType::kDouble, {80, 70}, 2);
  check_close(run_node("Gemm", {a, b}, {}, 11), gemm_reference(a, b, nullptr, false, false, 1, 1), {96, 70}, 1e-10);
  Tensor ai = random_tensor(DType::kInt32, {3, 4}, 3), bi = random_tensor(DType::kInt32, {5, 4}, 4);
  Tensor ci = random_tensor(DType::kInt32, {5}, 5);
  check_close(run_node("Gemm", {ai, bi, ci}, {GraphBuilder::attr("transB", int64_t{1})}, 13),
              gemm_reference(ai, bi, &ci, false, true, 1, 1), {3, 5}, 0);
  Tensor a6 = random_tensor(DType::kFloat, {2, 3}, 6), b6 = random_tensor(DType::kFloat, {3, 4}, 7);
  Tensor c6 = random_tensor(DType::kFloat, {4}, 8);
  check_close(run_node("Gemm", {a6, b6, c6}, {GraphBuilder::attr("broadcast", int64_t{1})}, 6),
              gemm_reference(a6, b6, &c6, false, false, 1, 1), {2, 4}, 1e-4);
  CHECK_THROWS_WITH(run_node("Gemm", {a6, b6, c6}, {}, 6), Catch::Contains("broadcast=0"));
  CHECK_THROWS_WITH(run_node("Gemm", {a6, b6, random_tensor(DType::kFloat, {3}, 9)}, {}, 13),
                    Catch::Contains("does not broadcast to the output [2, 4]"));
  CHECK_THROWS_WITH(run_node("Gemm", {a6, a6}, {}, 13), Catch::Contains("op(A) has 3 columns but op(B) has 2 rows"));
}

TEST_CASE("gemm core: leading dimensions, beta = 0 overwrites NaN, K = 0", "[nn_ops]") {
  // A 2x3 block inside a 2x5 buffer, B^T a 2x3 block inside 2x4; C a 2x2 block inside 2x3.
  const std::vector<float> a = {1, 2, 3, 9, 9, 4, 5, 6, 9, 9};
  const std::vector<float> bt = {1, 0, 2, 9, 0, 1, 1, 9};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> c = {nan, nan, 7, nan, nan, 7};
  kernels::GemmArgs<float> g;
  g.trans_b = true;
  g.m = 2, g.n = 2, g.k = 3;
  g.a = a.data(), g.lda = 5, g.b = bt.data(), g.ldb = 4, g.c = c.data(), g.ldc = 3;
  kernels::gemm(g);
  CHECK(c == std::vector<float>{7, 5, 7, 16, 11, 7});
  g.k = 0, g.beta = 2.0f;
  kernels::gemm(g);
  CHECK(c == std::vector<float>{14, 10, 7, 32, 22, 7});
}
