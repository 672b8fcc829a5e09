// QOperator (QLinearConv / QLinearMatMul) and dynamic (DynamicQuantizeLinear + MatMulInteger)
// formats, gemm-to-matmul, and the accuracy tools bias-correction and equalize: structure (op
// counts, dtypes) and numerics (outputs against fp32 on seeded random inputs), verifier after each.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "ir/verifier.h"
#include "kernels/exec/executor.h"
#include "onnx_io/model_io.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/quantize/bias_correction.h"
#include "passes/quantize/dynamic_pass.h"
#include "passes/quantize/equalize.h"
#include "passes/quantize/gemm_to_matmul.h"
#include "passes/quantize/qdq_pass.h"
#include "passes/quantize/qoperator_pass.h"
#include "passes/quantize/weight_only_pass.h"
#include "passes/minmax_ranges.h"
#include "support/test_support.h"

namespace scalec {
namespace {

ir::Model load(const std::string& stem) {
  return onnx_io::load_model((test::source_dir() / "test_models" / (stem + ".onnx")).string());
}

ir::Tensor random_input(std::vector<int64_t> shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return ir::Tensor::from_floats(std::move(shape), v);
}

kernels::NamedTensors tokens(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> d(0, 99);
  std::vector<int64_t> v(static_cast<size_t>(n * 16));
  for (int64_t& x : v) x = d(rng);
  return {{"tokens", ir::Tensor::from_int64s({n, 16}, v)}};
}

ir::Tensor run1(const ir::Model& m, const kernels::NamedTensors& feeds) {
  kernels::ExecutorOptions o;
  o.threads = 1;
  kernels::Executor ex(m, o);
  return ex.run(feeds).at(0).second;
}

double max_abs(const ir::Tensor& a) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.element_as_double(i)));
  return worst;
}

double max_abs_diff(const ir::Tensor& a, const ir::Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.element_as_double(i) - b.element_as_double(i)));
  return worst;
}

double mse(const ir::Tensor& a, const ir::Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += std::pow(a.element_as_double(i) - b.element_as_double(i), 2);
  return s / static_cast<double>(a.numel());
}

size_t count_ops(const ir::Model& m, const std::string& op) {
  return static_cast<size_t>(std::count_if(m.graph->nodes().begin(), m.graph->nodes().end(),
                                            [&](const auto& n) { return n->op_type() == op; }));
}

const ir::Node* first_op(const ir::Model& m, const std::string& op) {
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() == op) return n.get();
  }
  return nullptr;
}

using test::minmax;

calibration::BatchSource source_of(const kernels::NamedTensors& feeds) {
  const int64_t n = feeds.at(0).second.shape()[0];
  return {n, [feeds](int64_t, int64_t) { return feeds; }};
}

TEST_CASE("gemm-to-matmul on mlp: MatMul + Add, same outputs", "[quantize][formats]") {
  ir::Model m = load("mlp");
  const kernels::NamedTensors in = {{"input", random_input({32, 64}, 11)}};
  const ir::Tensor before = run1(m, in);
  passes::GemmToMatMul pass({"/net/net.4/Gemm"}, {});
  CHECK(pass.run(m) == "gemm-to-matmul: 2 Gemm nodes rewritten as MatMul + Add");
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "Gemm") == 1);
  CHECK(count_ops(m, "MatMul") == 2);
  CHECK(max_abs_diff(run1(m, in), before) < 1e-5);
}

TEST_CASE("quantize-qoperator on mobilenet_block: QLinearConv with int32 bias, QLinearMatMul", "[quantize][formats]") {
  ir::Model m = load("mobilenet_block");
  const kernels::NamedTensors calib = {{"input", random_input({64, 8, 16, 16}, 1)}};
  const kernels::NamedTensors in = {{"input", random_input({32, 8, 16, 16}, 2)}};
  const ir::Tensor fp32 = run1(m, in);
  passes::GemmToMatMul({}, {}).run(m);
  passes::QdqOptions o;
  o.ranges = minmax(m, passes::qoperator_calibration_values(m, o), calib);
  passes::QuantizeQOperator pass(o);
  CHECK(pass.run(m) == "quantize-qoperator: quantized 4 of 4 layers, 100.0% of weights (4 weights int8, 8 activations int8)");
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "QLinearConv") == 3);
  CHECK(count_ops(m, "QLinearMatMul") == 1);
  CHECK(count_ops(m, "Conv") == 0);
  const ir::Node* qc = first_op(m, "QLinearConv");
  REQUIRE(qc->inputs().size() == 9);
  CHECK(qc->input(3)->initializer->dtype() == ir::DType::kInt8);
  CHECK(qc->input(4)->initializer->shape() == std::vector<int64_t>{32});  // per-channel w_scale
  CHECK(qc->input(8)->initializer->dtype() == ir::DType::kInt32);
  const ir::Tensor q = run1(m, in);
  INFO("max |int8 - fp32| = " << max_abs_diff(q, fp32) << " of " << max_abs(fp32));
  CHECK(max_abs_diff(q, fp32) < 0.05 * max_abs(fp32));
}

TEST_CASE("quantize-qoperator: chains pass int8 directly, other ops sit between DQ and Q", "[quantize][formats]") {
  ir::Model m = load("lenet_digits");
  const kernels::NamedTensors calib = {{"input", random_input({64, 1, 8, 8}, 3)}};
  passes::GemmToMatMul({}, {}).run(m);
  passes::QdqOptions o;
  o.exclude_nodes = {};
  o.ranges = minmax(m, passes::qoperator_calibration_values(m, o), calib);
  passes::QuantizeQOperator pass(o);
  pass.run(m);
  ir::verify_or_throw(m);
  // Every QuantizeLinear reads a float value, every DequantizeLinear's output is read by a float op.
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() == "DequantizeLinear") {
      const auto& outs = m.graph->outputs;
      CHECK((!n->output(0)->uses().empty() || std::find(outs.begin(), outs.end(), n->output(0)) != outs.end()));
      CHECK(n->input(0)->producer() != nullptr);  // activations only: weights are read as int8 directly
    }
  }
  CHECK(count_ops(m, "QuantizeLinear") >= 1);
  CHECK(pass.report().left_float.empty());
}

TEST_CASE("quantize-qoperator: an output read only by a Relu takes the Relu output's range", "[quantize][formats]") {
  ir::Model m = load("lenet_digits");  // Conv -> Relu -> MaxPool -> Conv -> Relu -> ... -> Gemm -> Relu -> Gemm
  const kernels::NamedTensors calib = {{"input", random_input({64, 1, 8, 8}, 4)}};
  const kernels::NamedTensors in = {{"input", random_input({32, 1, 8, 8}, 5)}};
  const ir::Tensor fp32 = run1(m, in);
  passes::GemmToMatMul({}, {}).run(m);
  std::map<std::string, std::string> relu_of;  // weighted output -> the Relu output reading it
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() == "Relu") relu_of[n->input(0)->name()] = n->output(0)->name();
  }
  passes::QdqOptions o;
  const std::vector<std::string> names = passes::qoperator_calibration_values(m, o);
  auto listed = [&names](const std::string& v) { return std::find(names.begin(), names.end(), v) != names.end(); };
  o.ranges = minmax(m, names, calib);
  passes::QuantizeQOperator(o).run(m);
  ir::verify_or_throw(m);
  size_t checked = 0;
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "QLinearConv" && n->op_type() != "QLinearMatMul") continue;
    const ir::Node* dq = n->output(0)->uses().at(0).node;
    REQUIRE(dq->op_type() == "DequantizeLinear");
    const std::string y = dq->output(0)->name();
    if (!relu_of.count(y)) continue;  // the logits: own range, float graph output
    INFO(y);
    CHECK_FALSE(listed(y));
    REQUIRE(listed(relu_of.at(y)));
    const calibration::Range r = o.ranges.at(relu_of.at(y));
    const float expected = passes::quant::params_from_range(
        r.min, r.max, passes::quant::int_range(8, true, o.activation_symmetric), o.activation_symmetric).scale;
    CHECK(n->input(6)->initializer->values<float>()[0] == expected);  // y_scale, in both ops
    ++checked;
  }
  CHECK(checked == 2);  // the two Convs; the Gemms became MatMul -> Add (bias), so an Add reads them
  const ir::Tensor q = run1(m, in);
  INFO("max |int8 - fp32| = " << max_abs_diff(q, fp32) << " of " << max_abs(fp32));
  CHECK(max_abs_diff(q, fp32) < 0.05 * max_abs(fp32));
}

TEST_CASE("quantize-qoperator refuses blocks and quantized models", "[quantize][formats][bad_input]") {
  ir::Model m = load("mlp");
  passes::QdqOptions o;
  o.weights.granularity = passes::quant::Granularity::kBlock;
  o.weights.block_size = 32;
  CHECK_THROWS_AS(passes::QuantizeQOperator(o).run(m), Error);
  ir::Model d = load("transformer_block");
  passes::QuantizeDynamic(passes::QdqOptions{}).run(d);
  try {
    passes::QuantizeDynamic(passes::QdqOptions{}).run(d);
    FAIL("a quantized model was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK(std::string(e.what()).find("already quantized") != std::string::npos);
  }
}

TEST_CASE("quantize-dynamic on transformer_block: MatMulInteger with shared DynamicQuantizeLinear", "[quantize][formats]") {
  ir::Model m = load("transformer_block");
  const kernels::NamedTensors in = tokens(64, 5);
  const ir::Tensor fp32 = run1(m, in);
  passes::GemmToMatMul({}, {}).run(m);
  passes::QuantizeDynamic pass{passes::QdqOptions{}};
  CHECK(pass.run(m) == "quantize-dynamic: quantized 7 of 9 layers, 100.0% of weights (7 MatMulInteger + 0 ConvInteger, "
                       "weights int8, 5 activations uint8 at run time)");
  // The attention MatMuls (two activations) stay float, as quantize_dynamic leaves them, and say so.
  const auto left = pass.report().coverage.left();
  REQUIRE(left.size() == 1);
  CHECK(left[0].reason == "MatMul of two activations (quantized by --format qdq only)");
  CHECK(left[0].names == std::vector<std::string>{"/MatMul", "/MatMul_1"});
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "MatMulInteger") == 7);
  CHECK(count_ops(m, "DynamicQuantizeLinear") == 5);  // q, k and v share one
  CHECK(count_ops(m, "MatMul") == 2);                 // attention scores and context stay float
  const ir::Node* mmi = first_op(m, "MatMulInteger");
  CHECK(mmi->input(1)->initializer->dtype() == ir::DType::kInt8);
  CHECK(mmi->input(3)->initializer->shape() == std::vector<int64_t>{32});  // per-column zero point
  const ir::Tensor q = run1(m, in);
  INFO("max |dynamic - fp32| = " << max_abs_diff(q, fp32) << " of " << max_abs(fp32));
  CHECK(max_abs_diff(q, fp32) < 0.05 * max_abs(fp32));
}

// Output error of weight-only quantization (activations float), so only the weight error counts.
double weight_quant_mse(ir::Model m, const passes::quant::WeightQuantOptions& w, const kernels::NamedTensors& in,
                        const ir::Tensor& fp32) {
  passes::WeightOnlyOptions o;
  o.weights = w;
  passes::QuantizeWeightOnly(o).run(m);
  return mse(run1(m, in), fp32);
}

TEST_CASE("bias-correction removes the mean output shift of 3-bit weights on mobilenet_block", "[quantize][bias_correction]") {
  ir::Model m = load("mobilenet_block");
  // Inputs with a per-channel offset, so E[x] != 0 and the weight error shifts the outputs.
  ir::Tensor x = random_input({64, 8, 16, 16}, 21);
  auto xv = x.mutable_values<float>();
  for (size_t i = 0; i < xv.size(); ++i) xv[i] += 0.5f + 0.25f * static_cast<float>((i / 256) % 8);
  const kernels::NamedTensors calib = {{"input", x}};
  const kernels::NamedTensors in = {{"input", random_input({64, 8, 16, 16}, 22)}};
  auto shifted = in;
  auto sv = shifted[0].second.mutable_values<float>();
  for (size_t i = 0; i < sv.size(); ++i) sv[i] += 0.5f + 0.25f * static_cast<float>((i / 256) % 8);
  const ir::Tensor fp32 = run1(m, shifted);
  passes::quant::WeightQuantOptions w;
  w.bits = 3;
  w.granularity = passes::quant::Granularity::kPerTensor;
  const double plain = weight_quant_mse(load("mobilenet_block"), w, shifted, fp32);
  passes::BiasCorrectionOptions bc;
  bc.weights = w;
  bc.means = passes::channel_means(m, passes::bias_correction_inputs(m, bc), source_of(calib), 64, 1);
  CHECK(bc.means.size() == 4);  // 3 Conv inputs and the Gemm input
  const std::string line = passes::BiasCorrection(bc).run(m);
  CHECK(line.rfind("bias-correction: 4 biases corrected", 0) == 0);
  ir::verify_or_throw(m);
  const double corrected = weight_quant_mse(std::move(m), w, shifted, fp32);
  INFO("output MSE vs fp32: plain " << plain << ", bias-corrected " << corrected);
  CHECK(corrected < 0.8 * plain);
}

TEST_CASE("bias-correction on a Gemm without bias adds one; unquantized weights need no shift", "[quantize][bias_correction]") {
  ir::Model m = load("mlp");
  const kernels::NamedTensors in = {{"input", random_input({16, 64}, 31)}};
  passes::BiasCorrectionOptions bc;
  bc.weights.bits = 8;
  bc.means = passes::channel_means(m, passes::bias_correction_inputs(m, bc), source_of(in), 16, 1);
  REQUIRE(bc.means.at("input").size() == 64);
  double mean0 = 0;
  for (int64_t i = 0; i < 16; ++i) mean0 += in[0].second.element_as_double(i * 64) / 16.0;
  CHECK(std::fabs(bc.means.at("input")[0] - mean0) < 1e-9);
  const ir::Tensor before = run1(m, in);
  passes::BiasCorrection(bc).run(m);
  ir::verify_or_throw(m);
  // 8-bit per-channel weights move the outputs only by the tiny mean shift.
  CHECK(max_abs_diff(run1(m, in), before) < 1e-2);
}

TEST_CASE("bias-correction corrects the Add after a MatMul (an exported Linear layer)", "[quantize][bias_correction]") {
  auto linear = [] {  // x [B, 16] -> MatMul(W [16, 8]) -> Add(b [8]) -> y; the Add's bias is shared by nothing else
    ir::Model model = test::empty_model(17, "linear");
    ir::GraphBuilder b(*model.graph);
    ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{256, 16});
    ir::Value* t = b.op("MatMul", {x, b.initializer("w", random_input({16, 8}, 61))});
    b.output(b.op("Add", {t, b.initializer("bias", random_input({8}, 62))}));
    return model;
  };
  auto offset = [](ir::Tensor t) {  // E[x] != 0, so the weight error shifts the outputs
    auto v = t.mutable_values<float>();
    for (size_t i = 0; i < v.size(); ++i) v[i] += 1.0f + 0.1f * static_cast<float>(i % 16);
    return t;
  };
  const kernels::NamedTensors calib = {{"x", offset(random_input({256, 16}, 63))}};
  const kernels::NamedTensors in = {{"x", offset(random_input({256, 16}, 64))}};
  ir::Model m = linear();
  const ir::Tensor fp32 = run1(m, in);
  passes::quant::WeightQuantOptions w;
  w.bits = 3;
  w.granularity = passes::quant::Granularity::kPerTensor;
  const double plain = weight_quant_mse(linear(), w, in, fp32);
  passes::BiasCorrectionOptions bc;
  bc.weights = w;
  const auto inputs = passes::bias_correction_inputs(m, bc);
  REQUIRE(inputs.size() == 1);
  CHECK(inputs[0] == std::pair<std::string, int64_t>{"x", -1});
  bc.means = passes::channel_means(m, inputs, source_of(calib), 64, 1);
  CHECK(passes::BiasCorrection(bc).run(m).rfind("bias-correction: 1 bias corrected", 0) == 0);
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "Add") == 1);
  CHECK(first_op(m, "Add")->input(1)->initializer->shape() == std::vector<int64_t>{8});
  CHECK(first_op(m, "Add")->input(1)->name() != "bias");
  const double corrected = weight_quant_mse(std::move(m), w, in, fp32);
  INFO("output MSE vs fp32: plain " << plain << ", bias-corrected " << corrected);
  CHECK(corrected < 0.5 * plain);
}

TEST_CASE("bias-correction corrects for the weights given as prequantized (GPTQ's), not its own rounding", "[quantize][bias_correction]") {
  const kernels::NamedTensors in = {{"input", random_input({16, 64}, 33)}};
  auto corrected_bias = [&](int bits, bool prequantize) {
    ir::Model m = load("mlp");
    const ir::Node* gemm = first_op(m, "Gemm");
    const std::string weight = gemm->input(1)->name();
    passes::BiasCorrectionOptions bc;
    bc.weights.bits = bits;
    bc.means = passes::channel_means(m, passes::bias_correction_inputs(m, bc), source_of(in), 16, 1);
    if (prequantize) {  // a 2-bit weight stands in for GPTQ's result while the options say 8 bits
      passes::quant::WeightQuantOptions two;
      two.bits = 2;
      const ir::Tensor& w = *gemm->input(1)->initializer;
      const passes::quant::WeightAxes axes = passes::quant::weight_axes(*gemm, w.rank());
      bc.prequantized[weight] = passes::quant::quantize_weight(w, axes.channel, axes.reduction, two);
    }
    passes::BiasCorrection(bc).run(m);
    return *first_op(m, "Gemm")->input(2)->initializer;
  };
  const ir::Tensor own2 = corrected_bias(2, false), pre2 = corrected_bias(8, true), own8 = corrected_bias(8, false);
  CHECK(max_abs_diff(pre2, own2) == 0.0);
  CHECK(max_abs_diff(pre2, own8) > 1e-3);  // the 2-bit error shifts the mean far more than 8-bit rounding
}

TEST_CASE("equalize on mobilenet_block: same fp32 outputs, smaller per-tensor weight error", "[quantize][equalize]") {
  ir::Model m = load("mobilenet_block");
  const kernels::NamedTensors in = {{"input", random_input({32, 8, 16, 16}, 41)}};
  const ir::Tensor fp32 = run1(m, in);
  passes::quant::WeightQuantOptions w;
  w.granularity = passes::quant::Granularity::kPerTensor;
  const double plain = weight_quant_mse(load("mobilenet_block"), w, in, fp32);
  passes::CrossLayerEqualization pass;
  const std::string line = pass.run(m);
  CHECK(line.rfind("equalize: 2 Conv pairs equalized", 0) == 0);
  CHECK(line.find("(2 Clip(0, m) made per-channel)") != std::string::npos);
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "Clip") == 0);
  CHECK(count_ops(m, "Min") == 2);
  const ir::Tensor eq = run1(m, in);
  CHECK(max_abs_diff(eq, fp32) <= 1e-5 * std::max(1.0, max_abs(fp32)));
  const double equalized = weight_quant_mse(std::move(m), w, in, fp32);
  INFO("int8 per-tensor weight MSE: plain " << plain << ", equalized " << equalized);
  CHECK(equalized < plain);
}

TEST_CASE("equalize leaves non-homogeneous Clip pairs and shared weights alone", "[quantize][equalize]") {
  ir::Model m = load("resnet_bn");
  passes::FoldBatchNorm().run(m);
  const kernels::NamedTensors in = {{"input", random_input({8, 3, 16, 16}, 51)}};
  const ir::Tensor before = run1(m, in);
  const std::string line = passes::CrossLayerEqualization().run(m);
  // conv1 -> Relu -> conv2 inside each residual block (the stem's Relu output feeds an Add too).
  CHECK(line.rfind("equalize: 2 Conv pairs", 0) == 0);
  ir::verify_or_throw(m);
  CHECK(max_abs_diff(run1(m, in), before) <= 1e-5 * std::max(1.0, max_abs(before)));
}

TEST_CASE("quantize-qdq: a Conv output read only by a ReLU6 Clip takes the Clip output's range", "[quantize][qdq]") {
  ir::Model m = load("mobilenet_block");
  passes::QdqOptions o;
  const std::vector<std::string> names = passes::qdq_calibration_values(m, o);
  auto listed = [&names](const std::string& v) { return std::find(names.begin(), names.end(), v) != names.end(); };
  size_t clamped = 0;
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "Conv") continue;
    const ir::Value* y = n->output(0);
    if (y->uses().size() != 1 || y->uses()[0].node->op_type() != "Clip") continue;
    INFO(n->name);
    CHECK_FALSE(listed(y->name()));
    CHECK(listed(y->uses()[0].node->output(0)->name()));
    ++clamped;
  }
  REQUIRE(clamped >= 1);
  const kernels::NamedTensors calib = {{"input", random_input({16, 8, 16, 16}, 51)}};
  o.ranges = minmax(m, names, calib);
  const kernels::NamedTensors in = {{"input", random_input({16, 8, 16, 16}, 52)}};
  const ir::Tensor fp32 = run1(m, in);
  passes::QuantizeQdq(o).run(m);
  ir::verify_or_throw(m);
  size_t same_scale = 0;
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "Clip" || n->input(0)->producer()->op_type() != "DequantizeLinear") continue;
    const ir::Node* q = n->input(0)->producer()->input(0)->producer();
    REQUIRE(q->op_type() == "QuantizeLinear");
    if (q->input(0)->producer()->op_type() != "Conv") continue;
    REQUIRE(n->output(0)->uses().size() >= 1);
    const ir::Node* clip_q = n->output(0)->uses()[0].node;
    REQUIRE(clip_q->op_type() == "QuantizeLinear");
    // Both pairs: the scale of the Clip output's range, so Clip(DQ(Q(y))) is re-quantized exactly.
    CHECK(q->input(1)->initializer->values<float>()[0] == clip_q->input(1)->initializer->values<float>()[0]);
    ++same_scale;
  }
  CHECK(same_scale == clamped);
  const ir::Tensor q8 = run1(m, in);
  INFO("max |qdq - fp32| = " << max_abs_diff(q8, fp32) << " of " << max_abs(fp32));
  CHECK(max_abs_diff(q8, fp32) < 0.05 * max_abs(fp32));
}

}  // namespace
}  // namespace scalec
