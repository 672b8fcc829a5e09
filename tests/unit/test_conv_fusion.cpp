// Conv + Relu / Clip fusion in the Executor: the fused step (activation as the Conv's epilogue)
// gives bitwise the unfused graph's outputs; a tap on the Conv output turns that pair's fusion off.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "kernels/exec/executor.h"
#include "support/attrs.h"
#include "support/seeded_tensors.h"

using namespace scalec;

namespace {

ir::Model model_with(int64_t opset) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", opset});
  m.graph = std::make_unique<ir::Graph>("g");
  return m;
}

using test::scalar_float;
using test::seeded_floats;

// x -> Conv 3x3 -> Relu -> depthwise Conv 3x3 (stride 2) -> Clip(0, 6) -> Conv 1x1 -> Clip(-1, 1):
// Clip bounds from a Constant and an initializer (opset 11+) or attributes (opset 10).
struct FusionModel {
  ir::Model model;
  std::vector<ir::Value*> convs;  // the three Conv outputs
};

FusionModel build(int64_t opset) {
  FusionModel f{model_with(opset), {}};
  ir::GraphBuilder b(*f.model.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 4, 9, 9});
  auto conv = [&](ir::Value* in, int64_t m, int64_t c, int64_t k, int64_t group, int64_t stride, uint32_t seed) {
    // fmt, not "w" + std::to_string(): GCC 12 warns falsely (-Wrestrict) on that concatenation.
    ir::Value* w = b.initializer(fmt::format("w{}", seed), seeded_floats({m, c / group, k, k}, seed, 1.5f));
    ir::Value* bias = b.initializer(fmt::format("b{}", seed), seeded_floats({m}, seed + 7, 1.0f));
    const int64_t p = k / 2;
    ir::Value* y = b.op("Conv", {in, w, bias},
                        {test::attr_i("group", group), test::attr_ints("kernel_shape", {k, k}),
                         test::attr_ints("pads", {p, p, p, p}), test::attr_ints("strides", {stride, stride})});
    f.convs.push_back(y);
    return y;
  };
  auto clip = [&](ir::Value* in, float lo, float hi) {
    if (opset < 11) return b.op("Clip", {in}, {test::attr_f("min", lo), test::attr_f("max", hi)});
    ir::Value* vlo = b.op("Constant", {}, {test::attr_t("value", scalar_float(lo))});
    ir::Value* vhi = b.initializer("hi" + std::to_string(f.convs.size()), scalar_float(hi));
    return b.op("Clip", {in, vlo, vhi});
  };
  ir::Value* a = b.op("Relu", {conv(x, 6, 4, 3, 1, 1, 11)});
  ir::Value* d = clip(conv(a, 6, 6, 3, 6, 2, 23), 0.0f, 6.0f);
  b.output(clip(conv(d, 5, 6, 1, 1, 1, 37), -1.0f, 1.0f));
  return f;
}

std::vector<float> values(const ir::Tensor& t) {
  auto v = t.values<float>();
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("fused Conv+Relu and Conv+Clip match the unfused graph bitwise", "[executor][fusion]") {
  for (int64_t opset : {10, 13}) {
    for (int threads : {1, 2}) {
      CAPTURE(opset, threads);
      FusionModel f = build(opset);
      const kernels::NamedTensors feeds = {{"x", seeded_floats({2, 4, 9, 9}, 5, 3.0f)}};
      kernels::Executor fused(f.model, {threads});
      auto y_fused = fused.run(feeds);
      const size_t fused_peak = fused.last_stats().peak_activation_bytes;

      kernels::Executor unfused(f.model, {threads});
      int taps = 0;
      for (ir::Value* c : f.convs) unfused.add_tap(c, [&](const ir::Value&, const ir::Tensor&) { ++taps; });
      auto y_unfused = unfused.run(feeds);
      CHECK(taps == 3);  // the tapped Conv outputs were computed, so nothing was fused
      REQUIRE(y_fused.size() == 1);
      CHECK(values(y_fused[0].second) == values(y_unfused[0].second));
      // The fused run never holds a Conv's pre-activation output beside the activation's.
      CHECK(fused_peak < unfused.last_stats().peak_activation_bytes);
      auto out = values(y_fused[0].second);
      CHECK(*std::min_element(out.begin(), out.end()) == -1.0f);
      CHECK(*std::max_element(out.begin(), out.end()) == 1.0f);
    }
  }
}

TEST_CASE("a tap added after a fused run turns that pair's fusion off", "[executor][fusion]") {
  FusionModel f = build(13);
  const kernels::NamedTensors feeds = {{"x", seeded_floats({2, 4, 9, 9}, 9, 3.0f)}};
  kernels::Executor exec(f.model);
  auto first = exec.run(feeds);
  std::vector<float> seen;
  exec.add_tap(f.convs[1], [&](const ir::Value&, const ir::Tensor& t) { seen = values(t); });
  auto second = exec.run(feeds);
  REQUIRE(seen.size() == 2 * 6 * 5 * 5);
  CHECK(*std::max_element(seen.begin(), seen.end()) > 6.0f);  // the pre-Clip values
  CHECK(values(first[0].second) == values(second[0].second));
}

TEST_CASE("training runs keep Conv and its activation apart for the tape", "[executor][fusion]") {
  FusionModel f = build(13);
  kernels::Executor exec(f.model, {0, true});
  exec.run({{"x", seeded_floats({2, 4, 9, 9}, 3, 3.0f)}});
  size_t convs = 0, clips = 0;
  for (const kernels::TapeEntry& e : exec.tape()) {
    convs += e.node->op_type() == "Conv";
    clips += e.node->op_type() == "Clip";
  }
  CHECK(convs == 3);
  CHECK(clips == 2);
}
