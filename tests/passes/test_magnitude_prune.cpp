// L1 magnitude pruning: which weights go (the smallest), how many (exactly the asked fraction, per
// layer or globally), N:M groups along the summed axis, the first/last-layer policy, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "ir/error.h"
#include "kernels/exec/executor.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/prune/magnitude_prune.h"
#include "passes/prune/prunable.h"
#include "support/test_support.h"

using namespace scalec;

namespace {

ir::Model load(const std::string& name) { return onnx_io::load_model((test::source_dir() / "test_models" / name).string()); }

const ir::Tensor& weight(const ir::Model& m, const std::string& name) { return *m.graph->find_value(name)->initializer; }

int64_t zeros(const ir::Tensor& t) {
  int64_t z = 0;
  for (int64_t i = 0; i < t.numel(); ++i) z += t.element_as_double(i) == 0.0;
  return z;
}

// Every pruned |w| is <= every kept |w| (the pruned set is a set of smallest magnitudes).
void check_smallest_pruned(const ir::Tensor& before, const ir::Tensor& mask) {
  double max_pruned = 0, min_kept = INFINITY;
  for (int64_t i = 0; i < before.numel(); ++i) {
    const double a = std::fabs(before.element_as_double(i));
    if (mask.element_as_double(i) == 0.0) max_pruned = std::max(max_pruned, a);
    else min_kept = std::min(min_kept, a);
  }
  CHECK(max_pruned <= min_kept);
}

}  // namespace

TEST_CASE("prunable weights are the Conv/Gemm/MatMul weights, with the axis they sum over", "[passes][prune]") {
  ir::Model m = load("lenet_digits.onnx");
  std::vector<passes::PrunableWeight> ws = passes::prunable_weights(m);
  REQUIRE(ws.size() == 4);  // 2 Conv, 2 Gemm
  CHECK(ws[0].node->op_type() == "Conv");
  CHECK(ws[0].reduction_axis == 1);
  CHECK(ws[3].node->op_type() == "Gemm");
  const ir::Attribute* tb = ws[3].node->attribute("transB");
  CHECK(ws[3].reduction_axis == (tb && tb->i ? 1 : 0));
}

TEST_CASE("per-layer pruning zeroes exactly the asked fraction of each layer's smallest weights", "[passes][prune]") {
  ir::Model m = load("mlp.onnx");
  std::vector<passes::PrunableWeight> ws = passes::prunable_weights(m);
  REQUIRE(ws.size() == 3);
  std::vector<ir::Tensor> before;
  for (const auto& w : ws) before.push_back(*w.weight->initializer);
  passes::MagnitudePruneOptions o;
  o.sparsity = 0.7;
  passes::MagnitudePruneResult r = passes::magnitude_masks(m, o);
  REQUIRE(r.layers.size() == 3);
  CHECK(r.layers[0].note == "first layer kept dense");
  CHECK(r.layers[2].note == "last layer kept dense");
  REQUIRE(r.masks.size() == 1);
  const ir::Tensor& mask = r.masks.at(ws[1].weight->name());
  CHECK(zeros(mask) == std::llround(0.7 * static_cast<double>(mask.numel())));
  check_smallest_pruned(before[1], mask);
  CHECK(zeros(weight(m, ws[1].weight->name())) == 0);  // computing masks leaves the model alone

  passes::MagnitudePrune pass(o);
  pass.run(m);
  CHECK(zeros(weight(m, ws[1].weight->name())) == zeros(mask));
  CHECK(zeros(weight(m, ws[0].weight->name())) == 0);
  // The same sparsity again finds the same weights (zeros are pruned first).
  passes::MagnitudePruneResult again = passes::magnitude_masks(m, o);
  CHECK(again.masks.at(ws[1].weight->name()).equals(mask));

  o.prune_first = o.prune_last = true;
  ir::Model all = load("mlp.onnx");
  passes::MagnitudePruneResult r2 = passes::magnitude_masks(all, o);
  CHECK(r2.masks.size() == 3);
  for (const auto& l : r2.layers) CHECK(l.zeros_after == std::llround(0.7 * static_cast<double>(l.elements)));
}

TEST_CASE("a global threshold prunes the smallest weights across layers, layer overrides aside", "[passes][prune]") {
  ir::Model m = load("lenet_digits.onnx");
  passes::MagnitudePruneOptions o;
  o.sparsity = 0.8;
  o.global = true;
  o.prune_first = o.prune_last = true;
  std::vector<passes::PrunableWeight> ws = passes::prunable_weights(m);
  o.overrides[ws[0].layer] = 0.25;
  passes::MagnitudePruneResult r = passes::magnitude_masks(m, o);
  REQUIRE(r.masks.size() == 4);
  CHECK(r.layers[0].zeros_after == std::llround(0.25 * static_cast<double>(r.layers[0].elements)));
  int64_t pooled = 0, pooled_zeros = 0;
  double max_pruned = 0, min_kept = INFINITY;
  for (size_t k = 1; k < ws.size(); ++k) {
    const ir::Tensor& w = *ws[k].weight->initializer;
    const ir::Tensor& mask = r.masks.at(ws[k].weight->name());
    pooled += w.numel();
    pooled_zeros += zeros(mask);
    for (int64_t i = 0; i < w.numel(); ++i) {
      const double a = std::fabs(w.element_as_double(i));
      if (mask.element_as_double(i) == 0.0) max_pruned = std::max(max_pruned, a);
      else min_kept = std::min(min_kept, a);
    }
  }
  CHECK(pooled_zeros == std::llround(0.8 * static_cast<double>(pooled)));
  CHECK(max_pruned <= min_kept);
  // Layers end up with different sparsities (that is the point of a global threshold).
  CHECK(r.layers[1].zeros_after * r.layers[3].elements != r.layers[3].zeros_after * r.layers[1].elements);
}

TEST_CASE("2:4 keeps the two largest of every four weights along the summed axis", "[passes][prune]") {
  ir::Model m = load("resnet_bn.onnx");
  passes::MagnitudePruneOptions o;
  passes::parse_n_m("2:4", o.n, o.m);
  o.prune_first = o.prune_last = true;
  std::vector<passes::PrunableWeight> ws = passes::prunable_weights(m);
  std::vector<ir::Tensor> before;
  for (const auto& w : ws) before.push_back(*w.weight->initializer);
  passes::MagnitudePrune pass(o);
  pass.run(m);
  int checked = 0;
  for (size_t k = 0; k < ws.size(); ++k) {
    const ir::Tensor& w = *ws[k].weight->initializer;
    const auto axis = static_cast<size_t>(ws[k].reduction_axis);
    if (w.shape()[axis] % 4 != 0) {
      CHECK_FALSE(pass.result().layers[k].note.empty());  // the input conv (3 channels) cannot be 2:4
      CHECK(zeros(w) == zeros(before[k]));
      continue;
    }
    ++checked;
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= w.shape()[d];
    for (size_t d = axis + 1; d < w.shape().size(); ++d) inner *= w.shape()[d];
    const int64_t len = w.shape()[axis];
    for (int64_t a = 0; a < outer; ++a) {
      for (int64_t i = 0; i < inner; ++i) {
        for (int64_t g = 0; g < len; g += 4) {
          std::vector<double> kept, dropped;
          for (int64_t j = 0; j < 4; ++j) {
            const int64_t idx = (a * len + g + j) * inner + i;
            (w.element_as_double(idx) != 0.0 ? kept : dropped).push_back(std::fabs(before[k].element_as_double(idx)));
          }
          REQUIRE(kept.size() <= 2);
          for (double d : dropped) {
            for (double kk : kept) CHECK(d <= kk);
          }
        }
      }
    }
  }
  CHECK(checked >= 2);
}

TEST_CASE("pruning nothing leaves the outputs bit-identical; pruning changes them", "[passes][prune]") {
  auto golden = onnx_io::read_npz((test::source_dir() / "test_models" / "golden" / "lenet_digits.in.npz").string());
  auto run = [&](const ir::Model& m) { return kernels::Executor(m).run(golden).front().second; };
  ir::Model m = load("lenet_digits.onnx");
  const ir::Tensor ref = run(m);
  passes::MagnitudePruneOptions o;
  o.sparsity = 0.0;
  passes::MagnitudePrune(o).run(m);
  CHECK(run(m).equals(ref));
  o.sparsity = 0.9;
  passes::MagnitudePrune(o).run(m);
  CHECK_FALSE(run(m).equals(ref));
}

TEST_CASE("pruning names what it cannot do", "[passes][prune]") {
  ir::Model m = load("mlp.onnx");
  passes::MagnitudePruneOptions o;
  o.overrides["no_such_layer"] = 0.5;
  CHECK_THROWS_WITH(passes::magnitude_masks(m, o), Catch::Contains("no_such_layer") && Catch::Contains("no prunable layer"));
  o.overrides.clear();
  o.skip = {"nothing*"};
  CHECK_THROWS_WITH(passes::magnitude_masks(m, o), Catch::Contains("--skip 'nothing*' matches no prunable layer"));
  o.skip.clear();
  o.sparsity = 1.0;
  CHECK_THROWS_AS(passes::magnitude_masks(m, o), Error);
  int n = 0, mm = 0;
  CHECK_THROWS_WITH(passes::parse_n_m("4:2", n, mm), Catch::Contains("0 < N < M"));
  CHECK_THROWS_WITH(passes::parse_n_m("2-4", n, mm), Catch::Contains("not an N:M pattern"));
  CHECK_THROWS_WITH(passes::parse_n_m("2:4x", n, mm), Catch::Contains("not an N:M pattern"));
  passes::parse_n_m("1:8", n, mm);
  CHECK((n == 1 && mm == 8));
}
