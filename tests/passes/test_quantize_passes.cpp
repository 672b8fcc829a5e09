// fold-batchnorm keeps outputs; quantize-qdq places Q/DQ as runtimes expect (int8 weights behind
// DequantizeLinear, int32 bias, shared scales on Add/MaxPool) and keeps lenet_digits' accuracy
// within a point; quantize-weight-only upgrades to opset 21 for blockwise int4; opset upgrade turns
// attributes into inputs without changing results; quantized models are refused.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "ir/verifier.h"
#include "kernels/exec/executor.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/core/opset_upgrade.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/quantize/qdq_pass.h"
#include "passes/quantize/weight_only_pass.h"
#include "passes/minmax_ranges.h"
#include "support/test_support.h"

namespace scalec {
namespace {

ir::Model load(const std::string& stem) {
  return onnx_io::load_model((test::source_dir() / "test_models" / (stem + ".onnx")).string());
}

kernels::NamedTensors npz(const std::string& rel) {
  return onnx_io::read_npz((test::source_dir() / "test_models" / rel).string());
}

ir::Tensor run1(const ir::Model& m, const kernels::NamedTensors& feeds) {
  kernels::ExecutorOptions o;
  o.threads = 1;
  kernels::Executor ex(m, o);
  return ex.run(feeds).at(0).second;
}

double max_abs_diff(const ir::Tensor& a, const ir::Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.element_as_double(i) - b.element_as_double(i)));
  return worst;
}

size_t count_ops(const ir::Model& m, const std::string& op) {
  return static_cast<size_t>(std::count_if(m.graph->nodes().begin(), m.graph->nodes().end(),
                                            [&](const auto& n) { return n->op_type() == op; }));
}

using test::minmax;

double accuracy(const ir::Model& m, const kernels::NamedTensors& data) {
  const ir::Tensor& labels = data.at(1).second;
  ir::Tensor logits = run1(m, {data.at(0)});
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j) best = logits.element_as_double(i * c + j) > logits.element_as_double(i * c + best) ? j : best;
    right += best == static_cast<int64_t>(labels.element_as_double(i));
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

TEST_CASE("fold-batchnorm on resnet_bn: no BatchNormalization left, same outputs", "[quantize][fold_bn]") {
  ir::Model m = load("resnet_bn");
  auto in = npz("golden/resnet_bn.in.npz");
  const ir::Tensor before = run1(m, in);
  const size_t bns = count_ops(m, "BatchNormalization");
  REQUIRE(bns > 0);
  passes::FoldBatchNorm pass;
  CHECK(pass.run(m) == "fold-batchnorm: 5 of 5 BatchNormalization nodes folded");
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "BatchNormalization") == 0);
  CHECK(max_abs_diff(run1(m, in), before) < 1e-4);
  CHECK(max_abs_diff(run1(m, in), npz("golden/resnet_bn.out.npz").at(0).second) < 1e-4);
}

TEST_CASE("fold-batchnorm into grouped ConvTranspose and Gemm", "[quantize][fold_bn]") {
  ir::Model m;
  m.opset_imports = {{"", 13}};
  m.ir_version = 7;
  m.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*m.graph);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), pos(0.5f, 2.0f);
  auto rand = [&](std::vector<int64_t> shape, bool positive = false) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = positive ? pos(rng) : u(rng);
    return ir::Tensor::from_floats(std::move(shape), v);
  };
  auto bn = [&](ir::Value* x, int64_t c) {
    return b.op("BatchNormalization", {x, b.initializer(m.graph->unique_name("gamma"), rand({c})),
                                       b.initializer(m.graph->unique_name("beta"), rand({c})),
                                       b.initializer(m.graph->unique_name("mean"), rand({c})),
                                       b.initializer(m.graph->unique_name("var"), rand({c}, true))});
  };
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 4, 3, 3});
  // ConvTranspose W [C=4, M/g=3, 2, 2], group 2: 6 output channels.
  ir::Value* t = b.op("ConvTranspose", {x, b.initializer("wt", rand({4, 3, 2, 2})), b.initializer("bt", rand({6}))},
                      {ir::GraphBuilder::attr("group", int64_t{2})});
  ir::Value* y = bn(t, 6);
  ir::Value* f = b.op("Flatten", {y});
  ir::Value* gm = b.op("Gemm", {f, b.initializer("wg", rand({5, 96})), b.initializer("bg", rand({5}))},
                       {ir::GraphBuilder::attr("transB", int64_t{1}), ir::GraphBuilder::attr("beta", 0.5f)});
  b.output(bn(gm, 5));
  kernels::NamedTensors in = {{"x", rand({2, 4, 3, 3})}};
  const ir::Tensor before = run1(m, in);
  passes::FoldBatchNorm pass;
  CHECK(pass.run(m) == "fold-batchnorm: 2 of 2 BatchNormalization nodes folded");
  ir::verify_or_throw(m);
  CHECK(count_ops(m, "BatchNormalization") == 0);
  CHECK(count_ops(m, "Identity") == 1);  // the graph output keeps its name
  CHECK(max_abs_diff(run1(m, in), before) < 1e-4);
}

TEST_CASE("quantize-qdq on lenet_digits: structure, accuracy within a point", "[quantize][qdq]") {
  ir::Model m = load("lenet_digits");
  const ir::Model fp32 = load("lenet_digits");
  passes::QdqOptions o;
  const std::vector<std::string> names = passes::qdq_calibration_values(m, o);
  CHECK(std::find(names.begin(), names.end(), "input") != names.end());
  auto train = npz("digits_train.npz");
  o.ranges = minmax(m, names, {train.at(0)});
  passes::QuantizeQdq pass(o);
  const std::string line = pass.run(m);
  INFO(line);
  ir::verify_or_throw(m);
  CHECK(pass.report().weights_quantized == 4);
  CHECK(pass.report().left_float.empty());
  CHECK(count_ops(m, "Conv") == 2);
  // 4 weights + 3 biases (the last Gemm, writing the logits without an output Q, keeps a float
  // bias) + one DQ per quantized activation.
  CHECK(count_ops(m, "DequantizeLinear") == 7 + count_ops(m, "QuantizeLinear"));
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "Conv" && n->op_type() != "Gemm") continue;
    const bool conv = n->op_type() == "Conv";
    const bool int_bias = conv || n->output(0) != m.graph->outputs.at(0);
    for (size_t i = 0; i < (int_bias ? 3u : 2u); ++i) {
      INFO(n->name << " input " << i);
      REQUIRE(n->input(i)->producer() != nullptr);
      CHECK(n->input(i)->producer()->op_type() == "DequantizeLinear");
    }
    if (int_bias) {
      const ir::Value* bias_q = n->input(2)->producer()->input(0);
      CHECK(bias_q->initializer->dtype() == ir::DType::kInt32);
    } else {
      CHECK(n->input(2)->is_initializer());
    }
    CHECK(n->input(1)->producer()->input(0)->initializer->dtype() == ir::DType::kInt8);
  }
  // MaxPool shares one scale between its input and output.
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "MaxPool") continue;
    const ir::Node* dq_in = n->input(0)->producer();
    REQUIRE(dq_in->op_type() == "DequantizeLinear");
    const ir::Node* q_out = n->output(0)->uses().at(0).node;
    REQUIRE(q_out->op_type() == "QuantizeLinear");
    CHECK(dq_in->input(1)->initializer->values<float>()[0] == q_out->input(1)->initializer->values<float>()[0]);
  }
  auto val = npz("digits_val.npz");
  const double acc32 = accuracy(fp32, val), acc8 = accuracy(m, val);
  INFO("fp32 " << acc32 << " int8 " << acc8);
  CHECK(acc32 == Approx(0.9861).margin(1e-3));
  CHECK(acc8 >= acc32 - 0.01);
  // Saved and loaded back, the model still runs the same.
  test::TempDir tmp;
  onnx_io::save_model(m, (tmp / "q.onnx").string());
  ir::Model back = onnx_io::load_model((tmp / "q.onnx").string());
  CHECK(accuracy(back, val) == acc8);
  // An already quantized model is refused.
  passes::QuantizeQdq again(o);
  try {
    again.run(back);
    FAIL("a quantized model was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK_THAT(e.what(), Catch::Contains("already quantized"));
  }
}

TEST_CASE("quantize-qdq on resnet_bn: each Add input keeps its own scale, exclusions reported", "[quantize][qdq]") {
  ir::Model m = load("resnet_bn");
  passes::FoldBatchNorm().run(m);
  const ir::Model folded = load("resnet_bn");
  auto in = npz("golden/resnet_bn.in.npz");
  passes::QdqOptions o;
  o.exclude_ops = {"Gemm"};
  o.keep_io_float = true;
  const auto names = passes::qdq_calibration_values(m, o);
  CHECK(std::find(names.begin(), names.end(), "input") == names.end());
  o.ranges = minmax(m, names, in);
  std::map<std::string, float> expected_scale;  // value -> the scale of its own calibrated range
  for (const auto& [name, r] : o.ranges) {
    const auto act = passes::quant::int_range(8, true, o.activation_symmetric);
    expected_scale[name] = passes::quant::params_from_range(r.min, r.max, act, o.activation_symmetric).scale;
  }
  passes::QuantizeQdq pass(o);
  pass.run(m);
  ir::verify_or_throw(m);
  const auto& lf = pass.report().left_float;
  CHECK(std::count_if(lf.begin(), lf.end(), [](const auto& p) { return p.second.find("exclude-ops") != std::string::npos; }) == 1);
  CHECK(std::count_if(lf.begin(), lf.end(), [](const auto& p) { return p.second.find("keep-io-float") != std::string::npos; }) == 1);
  size_t adds = 0;
  bool scales_differ = false;
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "Add") continue;
    ++adds;
    // Each input's DequantizeLinear (and the output's QuantizeLinear) carries the scale of that
    // value's own range, as ONNX Runtime's quantizer writes a residual Add; no union.
    std::vector<float> scales;
    for (const ir::Value* v : n->inputs()) {
      REQUIRE(v->producer()->op_type() == "DequantizeLinear");
      const ir::Value* x = v->producer()->input(0)->producer()->input(0);  // DQ <- Q <- x
      INFO(x->name());
      REQUIRE(expected_scale.count(x->name()));
      scales.push_back(v->producer()->input(1)->initializer->values<float>()[0]);
      CHECK(scales.back() == expected_scale.at(x->name()));
    }
    const ir::Node* q = n->output(0)->uses().at(0).node;
    REQUIRE(q->op_type() == "QuantizeLinear");
    CHECK(q->input(1)->initializer->values<float>()[0] == expected_scale.at(n->output(0)->name()));
    scales_differ = scales_differ || scales[0] != scales[1];
  }
  CHECK(scales_differ);  // resnet_bn's residual branches do have different ranges
  CHECK(adds == 2);
  const ir::Tensor ref = run1(folded, in), got = run1(m, in);
  double scale = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, std::fabs(ref.element_as_double(i)));
  CHECK(max_abs_diff(got, ref) < 0.1 * scale);
}

TEST_CASE("quantize-qdq quantizes the output of each Conv(+Relu) group, one pair per consumer", "[quantize][qdq]") {
  // lenet: Conv -> Relu -> MaxPool -> Conv -> Relu -> MaxPool -> Flatten -> Gemm -> Relu -> Gemm.
  ir::Model m = load("lenet_digits");
  passes::QdqOptions o;
  const std::vector<std::string> names = passes::qdq_calibration_values(m, o);
  std::vector<std::string> weighted_outputs;
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() == "Conv" || n->op_type() == "Gemm") weighted_outputs.push_back(n->output(0)->name());
  }
  REQUIRE(weighted_outputs.size() == 4);
  // Every Conv / Gemm output but the logits (a graph output stays float) gets a pair, and each is
  // read only by a Relu: it is calibrated through that Relu's output, not on its own.
  auto listed = [&names](const std::string& v) { return std::find(names.begin(), names.end(), v) != names.end(); };
  for (const std::string& y : weighted_outputs) {
    INFO(y);
    CHECK_FALSE(listed(y));
  }
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() == "Relu") CHECK(listed(n->output(0)->name()));
  }
  o.ranges = minmax(m, names, {npz("digits_train.npz").at(0)});
  passes::QuantizeQdq(o).run(m);
  ir::verify_or_throw(m);
  auto only_use = [](const ir::Value* v) -> const ir::Node* {
    REQUIRE(v->uses().size() == 1);
    return v->uses()[0].node;
  };
  size_t groups = 0;
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "Conv" && n->op_type() != "Gemm") continue;
    if (n->output(0) == m.graph->outputs.at(0)) continue;
    INFO(n->name);
    // weighted node -> Q -> DQ -> Relu -> Q -> DQ: the runtime fuses DQ -> Conv -> Q into QLinearConv.
    const ir::Node* q = only_use(n->output(0));
    REQUIRE(q->op_type() == "QuantizeLinear");
    const ir::Node* dq = only_use(q->output(0));
    REQUIRE(dq->op_type() == "DequantizeLinear");
    const ir::Node* relu = only_use(dq->output(0));
    REQUIRE(relu->op_type() == "Relu");
    const ir::Node* relu_q = only_use(relu->output(0));
    CHECK(relu_q->op_type() == "QuantizeLinear");
    // Both pairs take the Relu output's range: Relu(DQ(Q(y))) is re-quantized exactly.
    CHECK(q->input(1)->initializer->values<float>()[0] == relu_q->input(1)->initializer->values<float>()[0]);
    ++groups;
  }
  CHECK(groups == 3);

  // resnet_bn: a Relu output read by the next Conv and by the residual Add gets one Q -> DQ pair
  // per consumer, each with its own scale initializer (ONNX Runtime merges Q nodes with the same
  // inputs, and then cannot fuse them), all with the same value.
  ir::Model r = load("resnet_bn");
  passes::FoldBatchNorm().run(r);
  passes::QdqOptions ro;
  ro.ranges = minmax(r, passes::qdq_calibration_values(r, ro), npz("golden/resnet_bn.in.npz"));
  passes::QuantizeQdq(ro).run(r);
  ir::verify_or_throw(r);
  size_t shared = 0;
  for (const auto& n : r.graph->nodes()) {
    if (n->op_type() == "QuantizeLinear") CHECK(n->output(0)->uses().size() == 1);
    if (n->op_type() == "Conv") CHECK(only_use(n->output(0))->op_type() == "QuantizeLinear");
    std::vector<const ir::Node*> qs;
    for (const ir::Use& u : n->output(0)->uses()) {
      if (u.node->op_type() == "QuantizeLinear") qs.push_back(u.node);
    }
    if (qs.size() < 2) continue;
    ++shared;
    CHECK(qs[0]->input(1) != qs[1]->input(1));
    CHECK(qs[0]->input(1)->initializer->values<float>()[0] == qs[1]->input(1)->initializer->values<float>()[0]);
  }
  CHECK(shared == 2);  // the stem's and the first block's output, each read by a Conv and an Add
}

TEST_CASE("quantize-weight-only: blockwise int4 at opset 21 on the transformer block", "[quantize][weight_only]") {
  ir::Model m = load("transformer_block");
  auto in = npz("golden/transformer_block.in.npz");
  const ir::Tensor ref = run1(m, in);
  passes::WeightOnlyOptions o;
  o.weights.bits = 4;
  o.weights.granularity = passes::quant::Granularity::kBlock;
  o.weights.block_size = 32;
  passes::QuantizeWeightOnly pass(o);
  INFO(pass.run(m));
  ir::verify_or_throw(m);
  CHECK(m.opset_version() == 21);
  CHECK(m.ir_version >= 10);
  CHECK(pass.report().weights_quantized == 7);
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "DequantizeLinear") continue;
    CHECK(n->input(0)->initializer->dtype() == ir::DType::kInt4);
    REQUIRE(n->attribute("block_size") != nullptr);
    CHECK(n->attribute("block_size")->i == 32);
  }
  CHECK(count_ops(m, "ReduceMean") == 1);
  const ir::Tensor got = run1(m, in);
  double scale = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, std::fabs(ref.element_as_double(i)));
  CHECK(max_abs_diff(got, ref) < 0.2 * scale);
  test::TempDir tmp;
  onnx_io::save_model(m, (tmp / "w4.onnx").string());
  CHECK(max_abs_diff(run1(onnx_io::load_model((tmp / "w4.onnx").string()), in), got) == 0.0);
}

TEST_CASE("opset upgrade to 21 turns attributes into inputs and keeps results", "[quantize][opset_upgrade]") {
  ir::Model m;
  m.opset_imports = {{"", 10}};
  m.ir_version = 5;
  m.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3, 1});
  ir::Value* s = b.op("Squeeze", {x}, {ir::GraphBuilder::attr("axes", std::vector<int64_t>{2})});
  ir::Value* r = b.op("ReduceMean", {s}, {ir::GraphBuilder::attr("axes", std::vector<int64_t>{1}),
                                          ir::GraphBuilder::attr("keepdims", int64_t{0})});
  ir::Value* u = b.op("Unsqueeze", {r}, {ir::GraphBuilder::attr("axes", std::vector<int64_t>{1})});
  ir::Value* c = b.op("Clip", {u}, {ir::GraphBuilder::attr("min", -0.5f), ir::GraphBuilder::attr("max", 0.5f)});
  b.output(c);
  kernels::NamedTensors in = {{"x", ir::Tensor::from_floats({2, 3, 1}, std::vector<float>{1, -2, 0.25f, 0.1f, 0.2f, 0.3f})}};
  const ir::Tensor before = run1(m, in);
  passes::upgrade_opset(m, 21);
  ir::verify_or_throw(m);
  CHECK(m.opset_version() == 21);
  for (const auto& n : m.graph->nodes()) {
    INFO(n->op_type());
    CHECK(n->attribute("axes") == nullptr);
    CHECK(n->attribute("min") == nullptr);
    CHECK(n->inputs().size() >= 2);
  }
  CHECK(max_abs_diff(run1(m, in), before) == 0.0);
  // Ops whose meaning cannot be carried over are refused by name.
  ir::Model old;
  old.opset_imports = {{"", 9}};
  old.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder ob(*old.graph);
  ob.output(ob.op("Upsample", {ob.input("x", ir::DType::kFloat, std::vector<int64_t>{1, 1, 2, 2})}));
  CHECK_THROWS_WITH(passes::upgrade_opset(old, 21), Catch::Contains("Upsample"));
}

}  // namespace
}  // namespace scalec
