// The training form of quantization-aware training (passes/quantize/fake_quant_graph.h): turning
// quantize-qdq's output into FakeQuantize nodes computes the same outputs bit for bit, and turning
// it back without training writes quantize-qdq's own model again (same nodes, names and tensors), on
// lenet_digits (Conv, MaxPool pairs sharing a scale, Gemm with and without an int32 bias) and on
// resnet_bn (residual Add pairs), at 8 and 3 bits.
#include <algorithm>
#include <cmath>
#include <vector>
#include <string>

#include <catch2/catch.hpp>

#include "ir/verifier.h"
#include "kernels/exec/executor.h"
#include "kernels/ops/fake_quant_op.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/minmax_ranges.h"
#include "passes/quantize/fake_quant_bn.h"
#include "passes/quantize/fake_quant_graph.h"
#include "passes/quantize/qdq_pass.h"
#include "support/test_support.h"

namespace scalec {
namespace {

ir::Model load(const std::string& stem) {
  ir::Model m = onnx_io::load_model((test::source_dir() / "test_models" / (stem + ".onnx")).string());
  passes::FoldBatchNorm().run(m);
  return m;
}

size_t count_ops(const ir::Model& m, const std::string& op) {
  return static_cast<size_t>(std::count_if(m.graph->nodes().begin(), m.graph->nodes().end(),
                                            [&](const auto& n) { return n->op_type() == op; }));
}

ir::Tensor run1(const ir::Model& m, const kernels::NamedTensors& feeds) {
  kernels::ExecutorOptions o;
  o.threads = 1;
  kernels::Executor ex(m, o);
  return ex.run(feeds).at(0).second;
}

void check_round_trip(const std::string& stem, const std::string& golden_in, int bits) {
  INFO(stem << " at " << bits << " bits");
  const kernels::NamedTensors in = onnx_io::read_npz((test::source_dir() / "test_models" / "golden" / golden_in).string());
  const kernels::NamedTensors feeds = {in.at(0)};
  ir::Model ptq = load(stem), trained = load(stem);
  passes::QdqOptions q;
  q.weights.bits = bits;
  q.ranges = test::minmax(ptq, passes::qdq_calibration_values(ptq, q), feeds);
  const auto floats = passes::record_float_layers(trained);
  passes::QuantizeQdq(q).run(ptq);
  passes::QuantizeQdq(q).run(trained);
  const ir::Tensor want = run1(ptq, feeds);

  const passes::FakeQuantGraph fq = passes::qdq_to_fake_quant(trained, floats, q);
  ir::verify_or_throw(trained);
  CHECK(count_ops(trained, "QuantizeLinear") == 0);
  CHECK(count_ops(trained, "DequantizeLinear") == 0);
  CHECK(fq.activations.size() == count_ops(ptq, "QuantizeLinear"));
  CHECK(fq.weights.size() == floats.size());
  CHECK(trained.opset_version(kernels::kFakeQuantDomain) == 1);
  CHECK(run1(trained, feeds).equals(want));  // FakeQuantize computes what Q -> DQ computes

  passes::fake_quant_to_qdq(trained, fq);
  ir::verify_or_throw(trained);
  CHECK(count_ops(trained, "FakeQuantize") == 0);
  CHECK(trained.opset_version(kernels::kFakeQuantDomain) == 0);
  // Same nodes and names; the same tensors, except that a weight integer may differ by one where
  // x / s in float (FakeQuantize, QuantizeLinear) and in double (quantize-qdq's weights) round apart.
  auto nodes = [](const ir::Model& m) {
    std::vector<std::string> out;
    for (const auto& n : m.graph->nodes()) {
      std::string line = n->op_type() + " " + n->name + " <-";
      for (const ir::Value* v : n->inputs()) line += " " + (v ? v->name() : std::string("-"));
      out.push_back(line + " -> " + n->output(0)->name());
    }
    return out;
  };
  CHECK(nodes(trained) == nodes(ptq));
  REQUIRE(trained.graph->initializers.size() == ptq.graph->initializers.size());
  int64_t off_by_one = 0, elements = 0;
  for (const ir::Value* v : ptq.graph->initializers) {
    const ir::Value* w = trained.graph->find_value(v->name());
    REQUIRE(w);
    REQUIRE(w->initializer);
    const ir::Tensor &a = *v->initializer, &b = *w->initializer;
    INFO(v->name());
    REQUIRE(a.dtype() == b.dtype());
    REQUIRE(a.shape() == b.shape());
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double d = std::fabs(a.element_as_double(i) - b.element_as_double(i));
      CHECK((d == 0 || (d == 1 && v->name().ends_with("weight_quantized"))));
      off_by_one += d == 1;
    }
    elements += a.numel();
  }
  CHECK(off_by_one * 1000 <= elements);
}

// One line per node: op, name, inputs, output.
std::vector<std::string> node_lines(const ir::Model& m) {
  std::vector<std::string> out;
  for (const auto& n : m.graph->nodes()) {
    std::string line = n->op_type() + " " + n->name + " <-";
    for (const ir::Value* v : n->inputs()) line += " " + (v ? v->name() : std::string("-"));
    out.push_back(line + " -> " + n->output(0)->name());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("BatchNorm in fake-quant form: normalizes like the fold, freezes into it, refolds to the same graph", "[quantize][qat]") {
  const kernels::NamedTensors in = onnx_io::read_npz((test::source_dir() / "test_models" / "golden" / "resnet_bn.in.npz").string());
  const kernels::NamedTensors feeds = {in.at(0)};
  ir::Model m = onnx_io::load_model((test::source_dir() / "test_models" / "resnet_bn.onnx").string());
  const std::vector<passes::ConvBnPair> pairs = passes::record_conv_bn_pairs(m);
  REQUIRE(pairs.size() == 5);
  passes::FoldBatchNorm().run(m);
  passes::QdqOptions q;
  q.weights.bits = 8;
  q.ranges = test::minmax(m, passes::qdq_calibration_values(m, q), feeds);
  const auto floats = passes::record_float_layers(m);
  passes::QuantizeQdq(q).run(m);
  passes::FakeQuantGraph fq = passes::qdq_to_fake_quant(m, floats, q);
  const ir::Tensor folded = run1(m, feeds);
  const std::vector<std::string> before = node_lines(m);
  std::vector<std::string> names;
  for (const ir::Value* v : m.graph->initializers) names.push_back(v->name());

  passes::BatchNormFakeQuant bn(m, fq, pairs);
  ir::verify_or_throw(m);
  CHECK(bn.size() == 5);
  CHECK(count_ops(m, "BatchNormalization") == 5);
  CHECK(bn.constants().size() == 5);
  // Inference (running statistics): the fold's function, up to the int32 grid the fold puts its bias on.
  const ir::Tensor unfolded = run1(m, feeds);
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < folded.numel(); ++i) {
    worst = std::max(worst, std::fabs(unfolded.element_as_double(i) - folded.element_as_double(i)));
    scale = std::max(scale, std::fabs(folded.element_as_double(i)));
  }
  CHECK(worst <= 0.02 * scale);
  // The weight each FakeQuantize sees is W * gamma / sigma, computed from the trained tensors.
  int unfolded_layers = 0;
  for (const passes::FakeQuantWeight& w : fq.weights) {
    if (!bn.folded_weight(w)) continue;
    ++unfolded_layers;
    CHECK(bn.trained_weight(w) != w.fake_quant->input(0));
    CHECK(!w.fake_quant->input(0)->is_initializer());  // computed: W * gamma / sigma
  }
  CHECK(unfolded_layers == 5);

  bn.freeze();
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "BatchNormalization") == 0);
  const ir::Tensor frozen = run1(m, feeds);
  bn.refold();
  ir::verify_or_throw(m);
  CHECK(run1(m, feeds).equals(frozen));  // the stored fold is what the frozen graph computed, bit for bit
  CHECK(node_lines(m) == before);        // the fake-quant graph quantize-qdq's export starts from
  std::vector<std::string> after;
  for (const ir::Value* v : m.graph->initializers) after.push_back(v->name());
  std::sort(names.begin(), names.end());
  std::sort(after.begin(), after.end());
  CHECK(after == names);
  passes::fake_quant_to_qdq(m, fq);
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "FakeQuantize") == 0);
}

TEST_CASE("qdq -> fake-quant -> qdq: same outputs in training form, same model back", "[quantize][qat]") {
  check_round_trip("lenet_digits", "lenet_digits.in.npz", 8);
  check_round_trip("lenet_digits", "lenet_digits.in.npz", 3);
  check_round_trip("resnet_bn", "resnet_bn.in.npz", 8);
}

}  // namespace scalec
