// Recurrent layers in the compression passes, on the PyTorch digit classifiers of tests/reference
// (nn.LSTM; bidirectional nn.GRU): W and R are prunable with their gate blocks each at the asked
// sparsity, and quantize_recurrent writes DynamicQuantizeLSTM (LSTM, dynamic) or DequantizeLinear
// rows (GRU) whose outputs stay close to the float model's in scalec's own runtime.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "kernels/exec/executor.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/prune/magnitude_prune.h"
#include "passes/prune/prunable.h"
#include "passes/quantize/recurrent_quant.h"
#include "support/test_support.h"

using namespace scalec;

namespace {

ir::Model load_reference(const std::string& name) {
  return onnx_io::load_model((test::source_dir() / "tests" / "reference" / name).string());
}

ir::Tensor logits(const ir::Model& m) {
  kernels::NamedTensors feeds;
  for (auto& [name, t] : onnx_io::read_npz((test::source_dir() / "test_models" / "digits_val.npz").string())) {
    if (name == "input") feeds.emplace_back(name, t);
  }
  kernels::ExecutorOptions o;
  o.threads = 1;
  return kernels::Executor(m, o).run(feeds).at(0).second;
}

// Signal-to-quantization-noise ratio of `got` against `ref`, in dB.
double sqnr_db(const ir::Tensor& ref, const ir::Tensor& got) {
  REQUIRE(ref.numel() == got.numel());
  double s = 0, n = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.element_as_double(i), d = r - got.element_as_double(i);
    s += r * r;
    n += d * d;
  }
  return 10 * std::log10(s / n);
}

int count_ops(const ir::Model& m, const std::string& op) {
  int c = 0;
  for (const auto& n : m.graph->nodes()) c += n->op_type() == op;
  return c;
}

}  // namespace

TEST_CASE("recurrent W and R are prunable; every gate block of every direction meets the sparsity", "[passes][prune]") {
  const ir::Model m = load_reference("gru_digits_init.onnx");
  const std::vector<passes::PrunableWeight> ws = passes::prunable_weights(m);
  REQUIRE(ws.size() == 3);  // GRU W, GRU R, the Linear
  for (size_t i : {0, 1}) {
    CHECK(ws[i].node->op_type() == "GRU");
    CHECK(ws[i].layer == ws[0].layer);  // one layer
    CHECK(ws[i].reduction_axis == 2);
    CHECK(ws[i].gate_rows == 16);
  }
  passes::MagnitudePruneOptions o;
  o.sparsity = 0.25;
  o.prune_first = true;
  const passes::MagnitudePruneResult r = passes::magnitude_masks(m, o);
  for (size_t i : {0, 1}) {
    const ir::Tensor& w = *ws[i].weight->initializer;
    const ir::Tensor& mask = r.masks.at(ws[i].weight->name());
    const int64_t cols = w.shape()[2], block = 16 * cols;
    for (int64_t start = 0; start < w.numel(); start += block) {  // 2 directions x 3 gates
      int64_t zeros = 0;
      double max_pruned = 0, min_kept = INFINITY;
      for (int64_t j = start; j < start + block; ++j) {
        const double a = std::fabs(w.element_as_double(j));
        if (mask.element_as_double(j) == 0.0) {
          ++zeros;
          max_pruned = std::max(max_pruned, a);
        } else {
          min_kept = std::min(min_kept, a);
        }
      }
      CHECK(zeros == block / 4);
      CHECK(max_pruned <= min_kept);  // the smallest of the block
    }
  }
  CHECK(r.layers.back().note == "last layer kept dense");
}

TEST_CASE("quantize_recurrent: DynamicQuantizeLSTM and DequantizeLinear rows stay close to float", "[passes][quantize]") {
  SECTION("LSTM, dynamic") {
    ir::Model m = load_reference("lstm_digits_init.onnx");
    const ir::Tensor ref = logits(m);
    passes::quant::RecurrentQuantOptions o;
    o.dynamic_lstm = true;
    const passes::quant::RecurrentQuantResult r = passes::quant::quantize_recurrent(m, o);
    CHECK(r.dynamic_lstms == 1);
    CHECK(r.coverage.params_changed() == 64 * 8 + 64 * 16);
    CHECK(count_ops(m, "DynamicQuantizeLSTM") == 1);
    CHECK(count_ops(m, "LSTM") == 0);
    CHECK(m.opset_version("com.microsoft") == 1);
    CHECK(sqnr_db(ref, logits(m)) > 35);
  }
  SECTION("bidirectional GRU, weight-only; excluded by op type it is counted and left") {
    ir::Model m = load_reference("gru_digits_init.onnx");
    const ir::Tensor ref = logits(m);
    passes::quant::RecurrentQuantOptions o;
    o.exclude_ops = {"GRU"};
    passes::quant::RecurrentQuantResult r = passes::quant::quantize_recurrent(m, o);
    CHECK(r.coverage.layers_total() == 1);
    CHECK(r.coverage.nothing_changed());
    CHECK(r.left_float.at(0).second == "excluded by --exclude-ops");
    o.exclude_ops.clear();
    r = passes::quant::quantize_recurrent(m, o);
    CHECK(r.quantized.size() == 1);
    CHECK(count_ops(m, "DequantizeLinear") == 2);
    CHECK(count_ops(m, "Reshape") >= 2);  // two directions: rows [96, C], then [2, 48, C]
    CHECK(sqnr_db(ref, logits(m)) > 35);
  }
}
