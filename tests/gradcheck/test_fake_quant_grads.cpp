// FakeQuantize (kernels/ops/fake_quant_ops.cpp): its forward equals QuantizeLinear -> DequantizeLinear
// bit for bit (what the QAT export writes), and its backward equals central finite differences of
// the straight-through surrogate in double: round(v) replaced by v + (round(v0) - v0) frozen at the
// base point, so d/dx is 1 inside the range and 0 outside, and d/ds is LSQ's round(x/s) - x/s inside
// and qmin - z / qmax - z outside. Inputs stay away from rounding ties and range edges, where a
// finite difference measures neither side.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "kernels/exec/autodiff.h"
#include "kernels/exec/executor.h"
#include "kernels/ops/fake_quant_op.h"
#include "kernels/ops/op_registry.h"
#include "support/gradcheck.h"
#include "support/tolerance.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;
using ir::Tensor;

namespace {

struct FqCase {
  std::vector<int64_t> shape;
  int64_t axis;  ///< -1: per tensor
  int64_t qmin, qmax;
  bool with_zero_point;
};

// x = (k - z + u) * s with |u| in [0.1, 0.4]: away from ties; k spans beyond [qmin, qmax] but is
// never qmin or qmax themselves (the surrogate's clamp has its kinks there).
struct Sample {
  Tensor x, scale, zero_point;
};

Sample sample(const FqCase& c, uint64_t seed, DType dtype) {
  const int64_t channels = c.axis < 0 ? 1 : c.shape[static_cast<size_t>(c.axis)];
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> su(0.05, 0.3), uu(0.1, 0.4);
  std::uniform_int_distribution<int64_t> ku(c.qmin - 3, c.qmax + 3), zu(c.qmin + 1, c.qmax - 1);
  Sample s{Tensor(dtype, c.shape), Tensor(dtype, c.axis < 0 ? std::vector<int64_t>{} : std::vector<int64_t>{channels}),
           Tensor(DType::kInt32, c.axis < 0 ? std::vector<int64_t>{} : std::vector<int64_t>{channels})};
  std::vector<double> sc(static_cast<size_t>(channels));
  std::vector<int64_t> zp(static_cast<size_t>(channels));
  for (int64_t i = 0; i < channels; ++i) {
    sc[i] = su(gen);
    zp[i] = c.with_zero_point ? zu(gen) : 0;
    s.zero_point.mutable_values<int32_t>()[i] = static_cast<int32_t>(zp[i]);
    if (dtype == DType::kFloat) s.scale.mutable_values<float>()[i] = static_cast<float>(sc[i]);
    else s.scale.mutable_values<double>()[i] = sc[i];
  }
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(c.axis) + 1; c.axis >= 0 && d < c.shape.size(); ++d) inner *= c.shape[d];
  for (int64_t i = 0; i < s.x.numel(); ++i) {
    const int64_t ch = c.axis < 0 ? 0 : (i / inner) % channels;
    const double u = (gen() & 1) ? uu(gen) : -uu(gen);
    int64_t k = ku(gen);
    while (k == c.qmin || k == c.qmax) k = ku(gen);  // the clamp's kinks
    const double v = (static_cast<double>(k - zp[ch]) + u) * sc[ch];
    if (dtype == DType::kFloat) s.x.mutable_values<float>()[i] = static_cast<float>(v);
    else s.x.mutable_values<double>()[i] = v;
  }
  return s;
}

std::vector<ir::Attribute> fq_attrs(const FqCase& c) {
  std::vector<ir::Attribute> a = {ir::GraphBuilder::attr("qmin", c.qmin), ir::GraphBuilder::attr("qmax", c.qmax)};
  if (c.axis >= 0) a.push_back(ir::GraphBuilder::attr("axis", c.axis));
  return a;
}

// y = FakeQuantize(x, scale[, zero_point]) with x and scale as graph inputs (so both get gradients).
ir::Model fq_model(const FqCase& c, const Sample& s, std::vector<ir::Attribute> attrs) {
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 17}, {kernels::kFakeQuantDomain, 1}};
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", s.x.dtype(), s.x.shape());
  ir::Value* sc = b.input("scale", s.scale.dtype(), s.scale.shape());
  std::vector<ir::Value*> ins = {x, sc};
  if (c.with_zero_point) ins.push_back(b.initializer("zero_point", s.zero_point));
  ir::Value* y = m.graph->create_value("y");
  ir::Node* n = m.graph->add_node("FakeQuantize", ins, {y}, kernels::kFakeQuantDomain);
  n->name = "fq";
  for (ir::Attribute& a : attrs) n->set_attribute(std::move(a));
  b.output(y);
  return m;
}

// The surrogate loss sum_i w_i * s * (clamp(x/s + c_i + z, qmin, qmax) - z), c frozen at (x0, s0).
double surrogate_loss(const FqCase& c, const Sample& base, const std::vector<double>& x, const std::vector<double>& s,
                      const std::vector<double>& w) {
  const int64_t channels = static_cast<int64_t>(s.size());
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(c.axis) + 1; c.axis >= 0 && d < c.shape.size(); ++d) inner *= c.shape[d];
  long double l = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t ch = c.axis < 0 ? 0 : (static_cast<int64_t>(i) / inner) % channels;
    const double s0 = base.scale.element_as_double(ch), x0 = base.x.element_as_double(static_cast<int64_t>(i));
    const double frozen = std::nearbyint(x0 / s0) - x0 / s0;
    const double z = base.zero_point.element_as_double(ch) * (c.with_zero_point ? 1 : 0);
    const double q = std::clamp(x[i] / s[ch] + frozen + z, static_cast<double>(c.qmin), static_cast<double>(c.qmax));
    l += static_cast<long double>(w[i]) * s[ch] * (q - z);
  }
  return static_cast<double>(l);
}

// Analytic gradients (Autodiff) against finite differences of the surrogate; "" when all agree.
std::string check_against_surrogate(const FqCase& c, uint64_t seed) {
  const Sample s = sample(c, seed, DType::kDouble);
  ir::Model m = fq_model(c, s, fq_attrs(c));
  kernels::ExecutorOptions eo;
  eo.threads = 1;
  eo.training = true;
  kernels::Executor exec(m, eo);
  kernels::Autodiff ad(m, {m.graph->inputs[0], m.graph->inputs[1]});
  exec.run({{"x", s.x}, {"scale", s.scale}});
  const Tensor w = random_doubles(c.shape, seed + 1);
  const std::vector<Tensor> g = ad.backward(exec, {{"y", w}});
  std::vector<double> x(s.x.values<double>().begin(), s.x.values<double>().end());
  std::vector<double> sc(s.scale.values<double>().begin(), s.scale.values<double>().end());
  std::vector<double> wv(w.values<double>().begin(), w.values<double>().end());
  const double eps = 1e-7;
  auto fd = [&](std::vector<double>& v, size_t i) {
    const double keep = v[i];
    v[i] = keep + eps;
    const double up = surrogate_loss(c, s, x, sc, wv);
    v[i] = keep - eps;
    const double down = surrogate_loss(c, s, x, sc, wv);
    v[i] = keep;
    return (up - down) / (2 * eps);
  };
  for (size_t i = 0; i < x.size(); ++i) {
    const double numeric = fd(x, i), analytic = g[0].values<double>()[i];
    if (!near(analytic, numeric, 1e-6, 1e-5)) return fmt::format("dx[{}]: backward {}, finite differences {}", i, analytic, numeric);
  }
  for (size_t i = 0; i < sc.size(); ++i) {
    const double numeric = fd(sc, i), analytic = g[1].values<double>()[i];
    if (!near(analytic, numeric, 1e-5, 1e-5)) return fmt::format("dscale[{}]: backward {}, finite differences {}", i, analytic, numeric);
  }
  return "";
}

}  // namespace

TEST_CASE("FakeQuantize gradients match finite differences of the straight-through surrogate", "[gradcheck][fake_quant]") {
  const std::vector<FqCase> cases = {
      {{2, 3, 4}, -1, -128, 127, true},  // per tensor, int8 asymmetric (activations)
      {{2, 3, 4}, 1, 0, 255, true},      // per channel on axis 1, uint8
      {{4, 2, 3, 3}, 0, -7, 7, false},   // per channel on axis 0, 4-bit symmetric (Conv weights)
      {{5, 6}, 0, -1, 1, false},         // 2-bit symmetric: most elements clamped
  };
  for (size_t k = 0; k < cases.size(); ++k) {
    for (uint64_t seed : {1u, 2u}) {
      INFO("case " << k << " seed " << seed);
      CHECK(check_against_surrogate(cases[k], seed) == "");
    }
  }
}

TEST_CASE("FakeQuantize lsq=1 scales the scale gradient by 1/sqrt(n * qmax)", "[gradcheck][fake_quant]") {
  const FqCase c{{4, 2, 3, 3}, 0, -7, 7, false};
  const Sample s = sample(c, 3, DType::kDouble);
  auto grads = [&](std::vector<ir::Attribute> attrs) {
    ir::Model m = fq_model(c, s, std::move(attrs));
    kernels::ExecutorOptions eo;
    eo.training = true;
    kernels::Executor exec(m, eo);
    kernels::Autodiff ad(m, {m.graph->inputs[0], m.graph->inputs[1]});
    exec.run({{"x", s.x}, {"scale", s.scale}});
    return ad.backward(exec, {{"y", random_doubles(c.shape, 9)}});
  };
  std::vector<ir::Attribute> lsq = fq_attrs(c);
  lsq.push_back(ir::GraphBuilder::attr("lsq", int64_t{1}));
  const std::vector<Tensor> plain = grads(fq_attrs(c)), scaled = grads(lsq);
  const double factor = 1.0 / std::sqrt(18.0 * 7.0);  // 2 * 3 * 3 elements per channel, qmax 7
  for (int64_t i = 0; i < 4; ++i) {
    CHECK(near(scaled[1].element_as_double(i), plain[1].element_as_double(i) * factor, 1e-15, 1e-12));
  }
  CHECK(scaled[0].equals(plain[0]));  // dx is not scaled
}

TEST_CASE("FakeQuantize forward equals QuantizeLinear then DequantizeLinear bit for bit", "[gradcheck][fake_quant]") {
  // Float, with ties (x / s = k + 0.5 exactly) and saturation: what an exported Q -> DQ computes.
  for (const FqCase& c : {FqCase{{2, 3, 4}, -1, -128, 127, true}, FqCase{{4, 2, 3, 3}, 0, -128, 127, true}}) {
    Sample s = sample(c, 5, DType::kFloat);
    auto xv = s.x.mutable_values<float>();
    xv[0] = 2.5f * s.scale.values<float>()[0];
    xv[1] = -3.5f * s.scale.values<float>()[0];
    ir::Model q;
    q.graph = std::make_unique<ir::Graph>();
    q.opset_imports = {{"", 17}};
    ir::GraphBuilder b(*q.graph);
    ir::Value* x = b.input("x", DType::kFloat, c.shape);
    Tensor zp8(DType::kInt8, s.zero_point.shape());
    for (int64_t i = 0; i < zp8.numel(); ++i) zp8.mutable_values<int8_t>()[i] = static_cast<int8_t>(s.zero_point.values<int32_t>()[i]);
    std::vector<ir::Attribute> axis;
    if (c.axis >= 0) axis.push_back(ir::GraphBuilder::attr("axis", c.axis));
    ir::Value* sc = b.initializer("s", s.scale);
    ir::Value* zp = b.initializer("z", zp8);
    ir::Value* y = b.op("DequantizeLinear", {b.op("QuantizeLinear", {x, sc, zp}, axis), sc, zp}, axis);
    b.output(y);
    kernels::Executor qdq(q);
    ir::Model f = fq_model(c, s, fq_attrs(c));
    kernels::Executor fq(f);
    const Tensor want = qdq.run({{"x", s.x}}).front().second;
    const Tensor got = fq.run({{"x", s.x}, {"scale", s.scale}}).front().second;
    CHECK(got.equals(want));
  }
}

TEST_CASE("FakeQuantize refuses a bad scale and a missing range", "[gradcheck][fake_quant]") {
  const FqCase c{{2, 3}, -1, -128, 127, false};
  Sample s = sample(c, 1, DType::kFloat);
  ir::Model f = fq_model(c, s, fq_attrs(c));
  kernels::Executor fq(f);
  Tensor zero(DType::kFloat, {});
  CHECK_THROWS_WITH(fq.run({{"x", s.x}, {"scale", zero}}), Catch::Contains("scales must be positive"));
  ir::Model no_range = fq_model(c, s, {});
  kernels::Executor nr(no_range);
  CHECK_THROWS_WITH(nr.run({{"x", s.x}, {"scale", s.scale}}), Catch::Contains("qmin and qmax"));
}
