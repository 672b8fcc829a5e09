// MatMul + bias Add and the exported exact-GELU chain (Div, Erf, Add, Mul, Mul) fused in the
// Executor: which chains plan_fusion takes, and fused runs bitwise equal to unfused ones (taps on
// the chain's inside values turn the fusion off).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "kernels/exec/executor.h"
#include "kernels/exec/fusion.h"
#include "support/attrs.h"
#include "support/seeded_tensors.h"

using namespace scalec;
using kernels::Fusion;

namespace {

using test::scalar_float;
using test::seeded_floats;

struct Ffn {
  ir::Model model;
  ir::Value* matmul = nullptr;  // MatMul output (inside the bias fusion)
  ir::Value* div = nullptr;     // Div output (inside the GELU fusion)
  ir::Value* scaled = nullptr;  // the Mul(x, erf + 1) output (inside the GELU fusion)
};

// x [2, 5, 8] -> MatMul W [8, 16] -> Add b [16] (bias first, as PyTorch writes it) -> GELU
// (Div sqrt 2, Erf, Add 1, Mul x, Mul 0.5) -> output. `bias_shape` and `bias_is_input` make
// variants the bias fusion must refuse.
Ffn build_ffn(std::vector<int64_t> bias_shape = {16}, bool bias_is_input = false) {
  Ffn f;
  f.model.ir_version = 8;
  f.model.opset_imports.push_back({"", 17});
  f.model.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*f.model.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 5, 8});
  ir::Value* w = b.initializer("w", seeded_floats({8, 16}, 3, 1.0f));
  ir::Value* bias = bias_is_input ? b.input("bias", ir::DType::kFloat, bias_shape)
                                  : b.initializer("bias", seeded_floats(bias_shape, 4, 0.5f));
  f.matmul = b.op("MatMul", {x, w});
  ir::Value* h = b.op("Add", {bias, f.matmul});
  ir::Value* c = b.op("Constant", {}, {test::attr_t("value", scalar_float(1.41421353816986083984f))});
  f.div = b.op("Div", {h, c});
  ir::Value* e = b.op("Erf", {f.div});
  ir::Value* a = b.op("Add", {e, b.initializer("one", scalar_float(1.0f))});
  f.scaled = b.op("Mul", {h, a});
  b.output(b.op("Mul", {f.scaled, b.initializer("half", scalar_float(0.5f))}));
  return f;
}

const ir::Node& producer(const ir::Value* v) { return *v->producer(); }

std::vector<float> values(const ir::Tensor& t) {
  auto v = t.values<float>();
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("plan_fusion takes MatMul+bias and the exported GELU chain", "[executor][fusion]") {
  Ffn f = build_ffn();
  auto mm = kernels::plan_fusion(f.model, producer(f.matmul));
  REQUIRE(mm);
  CHECK(mm->kind == Fusion::Kind::kMatMulBias);
  CHECK(mm->absorbed.size() == 1);
  auto gelu = kernels::plan_fusion(f.model, producer(f.div));
  REQUIRE(gelu);
  CHECK(gelu->kind == Fusion::Kind::kErfGelu);
  CHECK(gelu->absorbed.size() == 4);
  CHECK(gelu->divisor == double(1.41421353816986083984f));
  CHECK(gelu->offset == 1.0);
  CHECK(gelu->scale == 0.5);
  CHECK(kernels::fusion_internal_values(producer(f.div), *gelu).size() == 4);

  // A bias that is not [N], or that a feed can replace, stays a separate Add.
  CHECK_FALSE(kernels::plan_fusion(build_ffn({1, 16}).model, producer(build_ffn({1, 16}).matmul)));
  Ffn fed = build_ffn({16}, true);
  CHECK_FALSE(kernels::plan_fusion(fed.model, producer(fed.matmul)));
  // A chain value that is also a graph output stays.
  Ffn out = build_ffn();
  out.model.graph->outputs.push_back(out.scaled);
  CHECK_FALSE(kernels::plan_fusion(out.model, producer(out.div)));
}

TEST_CASE("fused MatMul+bias and GELU match the unfused graph bitwise", "[executor][fusion]") {
  Ffn f = build_ffn();
  ir::Tensor x = seeded_floats({2, 5, 8}, 7, 3.0f);
  x.mutable_values<float>()[3] = std::numeric_limits<float>::quiet_NaN();  // NaN stays NaN through the chain
  x.mutable_values<float>()[4] = 40.0f;                                    // erf saturates
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    kernels::Executor fused(f.model, {threads});
    auto y_fused = fused.run({{"x", x}});
    kernels::Executor unfused(f.model, {threads});
    int taps = 0;
    for (ir::Value* v : {f.matmul, f.div}) unfused.add_tap(v, [&](const ir::Value&, const ir::Tensor&) { ++taps; });
    auto y_unfused = unfused.run({{"x", x}});
    CHECK(taps == 2);
    CHECK(fused.last_stats().peak_activation_bytes < unfused.last_stats().peak_activation_bytes);
    const auto a = values(y_fused[0].second), b = values(y_unfused[0].second);
    REQUIRE(a.size() == 2 * 5 * 16);
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(b[i])) CHECK(std::isnan(a[i]));
      else CHECK(a[i] == b[i]);
    }
    // And the formula itself, in double.
    const auto xs = x.values<float>();
    const auto w = f.model.graph->find_value("w")->initializer->values<float>();
    const auto bias = f.model.graph->find_value("bias")->initializer->values<float>();
    for (int64_t r = 0; r < 10; ++r) {
      if (r == 0) continue;  // row 0 holds the NaN
      for (int64_t j = 0; j < 16; ++j) {
        double h = bias[static_cast<size_t>(j)];
        for (int64_t k = 0; k < 8; ++k) h += double(xs[static_cast<size_t>(r * 8 + k)]) * w[static_cast<size_t>(k * 16 + j)];
        const double want = 0.5 * h * (1 + std::erf(h / std::sqrt(2.0)));
        CHECK(std::fabs(a[static_cast<size_t>(r * 16 + j)] - want) <= 1e-5 + 1e-5 * std::fabs(want));
      }
    }
  }
}
