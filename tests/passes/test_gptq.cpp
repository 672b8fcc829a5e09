// GPTQ (passes/quantize/gptq.h) and its Hessians (calibration/hessian.h): H equals 2/n X^T X for
// MatMul rows and Conv im2col columns (groups, stride, padding); with a diagonal H GPTQ is exactly
// round-to-nearest (so its layout is quantize_weight's); on correlated inputs its output error is
// below round-to-nearest's; and a GPTQ model verifies, saves, loads and runs.
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "calibration/hessian.h"
#include "ir/graph_builder.h"
#include "ir/verifier.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/exec/executor.h"
#include "onnx_io/model_io.h"
#include "passes/quantize/gptq.h"
#include "passes/quantize/weight_only_pass.h"
#include "support/test_support.h"

namespace scalec {
namespace {

ir::Tensor random_tensor(std::vector<int64_t> shape, std::mt19937& rng, float sd = 1.0f) {
  ir::Tensor t(ir::DType::kFloat, std::move(shape));
  std::normal_distribution<float> d(0.0f, sd);
  for (float& v : t.mutable_values<float>()) v = d(rng);
  return t;
}

// X [n, k] with strongly correlated columns: Z [n, k] times a random mixing matrix plus a shared offset.
ir::Tensor correlated_inputs(int64_t n, int64_t k, std::mt19937& rng) {
  const ir::Tensor z = random_tensor({n, k}, rng), a = random_tensor({k, k}, rng, 0.3f);
  ir::Tensor x(ir::DType::kFloat, {n, k});
  auto zv = z.values<float>();
  auto av = a.values<float>();
  auto xv = x.mutable_values<float>();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      float s = zv[static_cast<size_t>(r * k + c)] * 0.2f + zv[static_cast<size_t>(r * k)];
      for (int64_t p = 0; p < k; ++p) s += zv[static_cast<size_t>(r * k + p)] * av[static_cast<size_t>(p * k + c)];
      xv[static_cast<size_t>(r * k + c)] = s;
    }
  }
  return x;
}

// Y = X W for X [n, k], W [k, m].
std::vector<double> matmul(const ir::Tensor& x, const ir::Tensor& w) {
  const int64_t n = x.shape()[0], k = x.shape()[1], m = w.shape()[1];
  std::vector<double> y(static_cast<size_t>(n * m), 0.0);
  auto xv = x.values<float>();
  auto wv = w.values<float>();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t p = 0; p < k; ++p) {
      const double a = xv[static_cast<size_t>(r * k + p)];
      for (int64_t c = 0; c < m; ++c) y[static_cast<size_t>(r * m + c)] += a * wv[static_cast<size_t>(p * m + c)];
    }
  }
  return y;
}

double mse(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s / static_cast<double>(a.size());
}

calibration::BatchSource rows_of(const ir::Tensor& x, const std::string& name) {
  const int64_t n = x.shape()[0];
  const int64_t row = x.numel() / n;
  return {n, [x, name, row](int64_t b, int64_t e) {
            std::vector<int64_t> shape = x.shape();
            shape[0] = e - b;
            ir::Tensor t(ir::DType::kFloat, shape);
            auto src = x.values<float>();
            std::copy(src.begin() + b * row, src.begin() + e * row, t.mutable_values<float>().begin());
            return kernels::NamedTensors{{name, t}};
          }};
}

}  // namespace

TEST_CASE("Hessian of MatMul rows is 2/n X^T X, streamed over batches", "[gptq][hessian]") {
  std::mt19937 rng(1);
  const ir::Tensor x = random_tensor({10, 3, 5}, rng);
  calibration::HessianLayer layer{"mm", "x", calibration::HessianLayout::kRows, 5, {}, {}};
  calibration::HessianObserver obs(5, 1);
  const calibration::BatchSource src = rows_of(x, "x");
  obs.observe(src.batch(0, 4).at(0).second, layer);
  obs.observe(src.batch(4, 10).at(0).second, layer);
  CHECK(obs.rows() == 30);
  CHECK(obs.state_bytes() < 1024);
  const std::vector<double> h = obs.hessian();
  auto xv = x.values<float>();
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      double s = 0;
      for (int64_t r = 0; r < 30; ++r) s += double{xv[static_cast<size_t>(r * 5 + i)]} * double{xv[static_cast<size_t>(r * 5 + j)]};
      CHECK(h[static_cast<size_t>(i * 5 + j)] == Approx(2.0 * s / 30).epsilon(1e-5).margin(1e-6));
    }
  }
  // The same sums with a shared workspace (and a pool), and moved out by take_hessians.
  kernels::ThreadPool pool(2);
  calibration::HessianWorkspace ws{&pool, {}, {}};
  calibration::HessianObserver shared(5, 1);
  shared.observe(src.batch(0, 4).at(0).second, layer, &ws);
  shared.observe(src.batch(4, 10).at(0).second, layer, &ws);
  CHECK(ws.product.size() == 25);
  const std::vector<std::vector<double>> taken = shared.take_hessians();
  REQUIRE(taken.size() == 1);
  for (size_t e = 0; e < h.size(); ++e) CHECK(taken[0][e] == Approx(h[e]).epsilon(1e-6));
  CHECK(shared.state_bytes() == 0);
  // Gemm with transA=1 reads x^T [K, rows]: the same Hessian.
  ir::Tensor xt(ir::DType::kFloat, {5, 30});
  for (int64_t r = 0; r < 30; ++r) {
    for (int64_t c = 0; c < 5; ++c) xt.mutable_values<float>()[static_cast<size_t>(c * 30 + r)] = xv[static_cast<size_t>(r * 5 + c)];
  }
  calibration::HessianObserver cols(5, 1);
  cols.observe(xt, {"gemm", "a", calibration::HessianLayout::kColumns, 5, {}, {}});
  CHECK(cols.rows() == 30);
  const std::vector<double> hc = cols.hessian();
  for (size_t i = 0; i < h.size(); ++i) CHECK(hc[i] == Approx(h[i]).epsilon(1e-5).margin(1e-6));
}

TEST_CASE("Hessian of a grouped, strided, padded Conv is 2/n sum of its im2col columns", "[gptq][hessian]") {
  std::mt19937 rng(2);
  const int64_t n = 2, c = 4, hw = 5, groups = 2, cg = c / groups, kk = 3, stride = 2, pad = 1;
  const int64_t out = (hw + 2 * pad - kk) / stride + 1;
  const ir::Tensor x = random_tensor({n, c, hw, hw}, rng);
  calibration::HessianLayer layer;
  layer.node = "conv";
  layer.layout = calibration::HessianLayout::kConv;
  layer.k = cg * kk * kk;
  layer.conv.group = groups;
  layer.conv.kernel_shape = {kk, kk};
  layer.conv.strides = {stride, stride};
  layer.conv.pads = {pad, pad, pad, pad};
  layer.weight_shape = {6, cg, kk, kk};
  calibration::HessianObserver obs(layer.k, groups);
  obs.observe(x, layer);
  CHECK(obs.rows() == n * out * out);
  auto xv = x.values<float>();
  auto pixel = [&](int64_t b, int64_t ch, int64_t i, int64_t j) -> double {
    if (i < 0 || j < 0 || i >= hw || j >= hw) return 0.0;
    return xv[static_cast<size_t>(((b * c + ch) * hw + i) * hw + j)];
  };
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<double> ref(static_cast<size_t>(layer.k * layer.k), 0.0);
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t oi = 0; oi < out; ++oi) {
        for (int64_t oj = 0; oj < out; ++oj) {
          std::vector<double> col;
          for (int64_t ch = 0; ch < cg; ++ch) {
            for (int64_t ki = 0; ki < kk; ++ki) {
              for (int64_t kj = 0; kj < kk; ++kj) col.push_back(pixel(b, g * cg + ch, oi * stride - pad + ki, oj * stride - pad + kj));
            }
          }
          for (size_t p = 0; p < col.size(); ++p) {
            for (size_t q = 0; q < col.size(); ++q) ref[p * col.size() + q] += col[p] * col[q];
          }
        }
      }
    }
    const std::vector<double> h = obs.hessian(g);
    for (size_t i = 0; i < ref.size(); ++i) {
      CHECK(h[i] == Approx(2.0 * ref[i] / static_cast<double>(obs.rows())).epsilon(1e-5).margin(1e-6));
    }
  }
}

TEST_CASE("GPTQ with a diagonal Hessian is round-to-nearest, in quantize_weight's layout", "[gptq]") {
  std::mt19937 rng(3);
  const ir::Tensor w = random_tensor({64, 24}, rng);  // MatMul W [K, N]
  std::vector<double> h(64 * 64, 0.0);
  for (size_t i = 0; i < 64; ++i) h[i * 64 + i] = 1.0 + static_cast<double>(i % 7);
  const passes::quant::WeightAxes axes{1, 0};
  for (const bool act_order : {false, true}) {
    for (const auto gran : {passes::quant::Granularity::kBlock, passes::quant::Granularity::kPerChannel}) {
      passes::quant::WeightQuantOptions wq;
      wq.bits = 4;
      wq.granularity = gran;
      wq.block_size = gran == passes::quant::Granularity::kBlock ? 16 : 0;
      passes::GptqOptions go;
      go.act_order = act_order;
      const auto g = passes::gptq_quantize_weight(w, axes, {h}, wq, go);
      const auto r = passes::quant::quantize_weight(w, axes.channel, axes.reduction, wq);
      CHECK(g.q.shape() == r.q.shape());
      CHECK(g.scale.shape() == r.scale.shape());
      CHECK(g.axis == r.axis);
      CHECK(g.block_size == r.block_size);
      CHECK(passes::quant::integer_values(g.q) == passes::quant::integer_values(r.q));
      CHECK(passes::quant::integer_values(g.zero_point) == passes::quant::integer_values(r.zero_point));
      CHECK(std::equal(g.scale.values<float>().begin(), g.scale.values<float>().end(), r.scale.values<float>().begin()));
    }
  }
}

TEST_CASE("GPTQ beats round-to-nearest on a MatMul with correlated inputs", "[gptq]") {
  std::mt19937 rng(4);
  const int64_t k = 128, m = 48;
  const ir::Tensor x = correlated_inputs(512, k, rng), w = random_tensor({k, m}, rng, 0.1f);
  calibration::HessianObserver obs(k, 1);
  obs.observe_rows(x.values<float>().data(), 512);
  const std::vector<double> h = obs.hessian();
  const std::vector<double> ref = matmul(x, w);
  const passes::quant::WeightAxes axes{1, 0};
  for (const int bits : {4, 3}) {
    for (const bool act_order : {false, true}) {
      passes::quant::WeightQuantOptions wq;
      wq.bits = bits;
      wq.granularity = passes::quant::Granularity::kBlock;
      wq.block_size = 32;
      passes::GptqOptions go;
      go.act_order = act_order;
      const ir::Tensor rtn = passes::quant::dequantize_weight(passes::quant::quantize_weight(w, 1, 0, wq));
      const ir::Tensor gptq = passes::quant::dequantize_weight(passes::gptq_quantize_weight(w, axes, {h}, wq, go));
      const double e_rtn = mse(matmul(x, rtn), ref), e_gptq = mse(matmul(x, gptq), ref);
      INFO("bits " << bits << " act_order " << act_order << ": output MSE RTN " << e_rtn << " GPTQ " << e_gptq);
      CHECK(e_gptq < 0.8 * e_rtn);
      // The error measured through H is the same quantity.
      const double ref_power = mse(ref, std::vector<double>(ref.size(), 0.0));
      CHECK(passes::gptq_relative_error(w, gptq, axes, {h}) == Approx(e_gptq / ref_power).epsilon(1e-3));
    }
  }
}

TEST_CASE("a GPTQ weight-only model (MatMul and grouped Conv) verifies, loads and runs, closer than RTN", "[gptq]") {
  std::mt19937 rng(5);
  ir::Model model;
  model.opset_imports = {{"", 17}};
  model.ir_version = 8;
  model.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*model.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{8, 4, 6, 6});
  ir::Value* y = b.op("Conv", {x, b.initializer("wc", random_tensor({8, 2, 3, 3}, rng, 0.3f))},
                      {ir::GraphBuilder::attr("group", int64_t{2}), ir::GraphBuilder::attr("pads", std::vector<int64_t>{1, 1, 1, 1})});
  ir::Value* f = b.op("Reshape", {y, b.initializer("shape", ir::Tensor::from_int64s({2}, std::vector<int64_t>{8, 288}))});
  ir::Value* out = b.op("MatMul", {f, b.initializer("wm", random_tensor({288, 10}, rng, 0.05f))});
  b.output(out);
  ir::Tensor data = random_tensor({64, 4, 6, 6}, rng);
  {  // correlate neighbouring channels
    auto v = data.mutable_values<float>();
    for (size_t i = 36; i < v.size(); ++i) v[i] = 0.6f * v[i] + 0.8f * v[i - 36];
  }
  const calibration::BatchSource src = rows_of(data, "x");
  auto quantize = [&](bool gptq, passes::GptqReport* rep) {
    ir::Model m = onnx_io::load_model_from_bytes(onnx_io::serialize_model(model), ".", "model");
    passes::WeightOnlyOptions wo;
    wo.weights.bits = 4;
    wo.weights.granularity = passes::quant::Granularity::kBlock;
    wo.weights.block_size = 16;
    calibration::CalibrationOptions co;
    co.batch = 8;
    if (gptq) *rep = passes::run_gptq(m, {wo.weights, {}, {}, false}, src, co, {}, wo.prequantized);
    passes::QuantizeWeightOnly pass(wo);
    pass.run(m);
    ir::verify_or_throw(m);
    return m;
  };
  passes::GptqReport rep;
  const ir::Model mg = quantize(true, &rep), mr = quantize(false, nullptr);
  INFO(rep.summary());
  REQUIRE(rep.layers.size() == 2);
  CHECK(rep.skipped.empty());
  for (const auto& l : rep.layers) CHECK(l.gptq_error < l.rtn_error);
  CHECK(mg.opset_version() == 21);
  test::TempDir tmp;
  onnx_io::save_model(mg, (tmp / "g.onnx").string());
  const ir::Model back = onnx_io::load_model((tmp / "g.onnx").string());
  double e_g = 0, e_r = 0;
  for (int64_t begin = 0; begin < 64; begin += 8) {
    const kernels::NamedTensors feeds = src.batch(begin, begin + 8);
    kernels::Executor ef(model), eg(back), er(mr);
    const ir::Tensor ref = ef.run(feeds).at(0).second, g = eg.run(feeds).at(0).second, r = er.run(feeds).at(0).second;
    for (int64_t i = 0; i < ref.numel(); ++i) {
      e_g += std::pow(g.element_as_double(i) - ref.element_as_double(i), 2);
      e_r += std::pow(r.element_as_double(i) - ref.element_as_double(i), 2);
    }
  }
  INFO("model output squared error: GPTQ " << e_g << ", RTN " << e_r);
  CHECK(e_g < e_r);
}

TEST_CASE("run_gptq under a Hessian budget takes one layer per calibration pass, with the same result", "[gptq]") {
  std::mt19937 rng(7);
  ir::Model model = test::empty_model(17);
  ir::GraphBuilder b(*model.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{16, 24});
  ir::Value* h = b.op("Relu", {b.op("MatMul", {x, b.initializer("w1", random_tensor({24, 32}, rng, 0.2f))})});
  b.output(b.op("MatMul", {h, b.initializer("w2", random_tensor({32, 8}, rng, 0.2f))}));
  const calibration::BatchSource src = rows_of(random_tensor({64, 24}, rng), "x");
  passes::GptqTarget target;
  target.weights.bits = 4;
  target.weights.granularity = passes::quant::Granularity::kPerChannel;
  calibration::CalibrationOptions co;
  co.batch = 16;
  auto run = [&](size_t budget, std::map<std::string, passes::quant::QuantizedWeight>& out) {
    passes::GptqOptions go;
    go.hessian_budget_bytes = budget;
    return passes::run_gptq(model, target, src, co, go, out);
  };
  std::map<std::string, passes::quant::QuantizedWeight> together, apart;
  const passes::GptqReport one = run(size_t{1} << 30, together), two = run(1, apart);
  CHECK(one.passes == 1);
  CHECK(two.passes == 2);  // 1 byte: still one layer per pass
  CHECK(one.hessian_bytes >= (24 * 24 + 32 * 32) * sizeof(double));
  CHECK(two.hessian_bytes < one.hessian_bytes);
  CHECK(two.samples == 64);
  REQUIRE_FALSE(together.empty());
  REQUIRE(together.size() == apart.size());
  for (const auto& [name, qw] : together) {
    INFO(name);
    REQUIRE(apart.count(name));
    CHECK(passes::quant::integer_values(qw.q) == passes::quant::integer_values(apart.at(name).q));
  }
}

}  // namespace scalec
