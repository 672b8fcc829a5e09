// prune-channels: removing channels whose weights are exactly zero leaves outputs unchanged; the
// pruned models have fewer parameters and MACs, verify, save and load; residual groups are pruned
// jointly; structures the pass cannot follow are reported and left alone.
#include <algorithm>
#include <cstdlib>
#include <random>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "ir/model_stats.h"
#include "ir/verifier.h"
#include "kernels/exec/executor.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/prune/channel_prune.h"
#include "support/test_support.h"
#include "support/tolerance.h"

namespace scalec {
namespace {

using ir::GraphBuilder;
using passes::ChannelPruneLayer;
using passes::ChannelPruneOptions;
using passes::ChannelPruneReport;

ir::Model load(const std::string& stem) {
  return onnx_io::load_model((test::source_dir() / "test_models" / (stem + ".onnx")).string());
}

kernels::NamedTensors golden_inputs(const std::string& stem) {
  return onnx_io::read_npz((test::source_dir() / "test_models" / "golden" / (stem + ".in.npz")).string());
}

std::vector<float> run(const ir::Model& m, const kernels::NamedTensors& feeds) {
  kernels::ExecutorOptions o;
  o.threads = 1;
  kernels::Executor ex(m, o);
  auto out = ex.run(feeds);
  auto v = out.at(0).second.values<float>();
  return {v.begin(), v.end()};
}

void check_same(const std::vector<float>& got, const std::vector<float>& ref) {
  REQUIRE(got.size() == ref.size());
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - ref[i]));
    bad += test::near(got[i], ref[i], 1e-5, 1e-4) ? 0 : 1;
  }
  INFO("max |difference| " << worst);
  CHECK(bad == 0);
}

ir::Tensor& weight(ir::Model& m, const std::string& name) {
  ir::Value* v = m.graph->find_value(name);
  REQUIRE(v != nullptr);
  REQUIRE(v->initializer.has_value());
  return *v->initializer;
}

// Sets entries `chans` of axis 0 of a float tensor to zero.
void zero_channels(ir::Tensor& t, const std::vector<int64_t>& chans) {
  auto v = t.mutable_values<float>();
  const int64_t inner = t.numel() / t.shape()[0];
  for (int64_t c : chans) std::fill_n(v.begin() + c * inner, inner, 0.0f);
}

// Channels 1, 5, 9, ...: a quarter of `c`.
std::vector<int64_t> every_fourth(int64_t c) {
  std::vector<int64_t> out;
  for (int64_t i = 1; i < c; i += 4) out.push_back(i);
  return out;
}

// The number of output channels (axis 0) of `t` that are entirely zero.
int64_t zero_rows(const ir::Tensor& t) {
  auto v = t.values<float>();
  const int64_t inner = t.numel() / t.shape()[0];
  int64_t n = 0;
  for (int64_t c = 0; c < t.shape()[0]; ++c) {
    n += std::all_of(v.begin() + c * inner, v.begin() + (c + 1) * inner, [](float x) { return x == 0.0f; }) ? 1 : 0;
  }
  return n;
}

const ChannelPruneLayer& layer(const ChannelPruneReport& rep, const std::string& weight_name) {
  auto it = std::find_if(rep.layers.begin(), rep.layers.end(), [&](const auto& l) { return l.weight == weight_name; });
  REQUIRE(it != rep.layers.end());
  return *it;
}

// The pruned model verifies, and survives a save and load.
void check_valid(const ir::Model& m, const std::string& stem) {
  const ir::VerifyReport vr = ir::verify(m);
  INFO(vr.summary());
  CHECK(vr.ok());
  const ir::Model back = onnx_io::load_model_from_bytes(onnx_io::serialize_model(m), "", stem);
  CHECK(ir::verify(back).ok());
  // For cross-checking in ONNX Runtime by hand: SCALEC_PRUNED_DIR=/tmp/x scalec_pass_tests "[channel]"
  if (const char* dir = std::getenv("SCALEC_PRUNED_DIR")) onnx_io::save_model(m, std::string(dir) + "/" + stem + "_pruned.onnx");
}

std::vector<int64_t> shape(ir::Model& m, const std::string& name) { return weight(m, name).shape(); }

TEST_CASE("prune-channels: resnet_bn keeps its outputs when zero channels go, residual group jointly",
          "[prune][channel]") {
  ir::Model m = load("resnet_bn");
  const std::vector<int64_t> zero = every_fourth(16);
  // A channel is zero after BatchNormalization when its conv weights, running mean and beta are.
  const std::pair<const char*, const char*> layers[] = {{"stem.0.weight", "stem.1"},
                                                        {"blocks.0.conv1.weight", "blocks.0.bn1"},
                                                        {"blocks.0.conv2.weight", "blocks.0.bn2"},
                                                        {"blocks.1.conv1.weight", "blocks.1.bn1"},
                                                        {"blocks.1.conv2.weight", "blocks.1.bn2"}};
  for (const auto& [conv, bn] : layers) {
    zero_channels(weight(m, conv), zero);
    zero_channels(weight(m, std::string(bn) + ".bias"), zero);
    zero_channels(weight(m, std::string(bn) + ".running_mean"), zero);
  }
  const auto feeds = golden_inputs("resnet_bn");
  const std::vector<float> before = run(m, feeds);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  INFO(rep.summary());
  check_same(run(m, feeds), before);
  check_valid(m, "resnet_bn");

  // Residual stream: stem and both conv2 layers form one group, pruned together.
  const ChannelPruneLayer& stem = layer(rep, "stem.0.weight");
  CHECK(layer(rep, "blocks.0.conv2.weight").group == stem.group);
  CHECK(layer(rep, "blocks.1.conv2.weight").group == stem.group);
  CHECK(layer(rep, "blocks.0.conv1.weight").group != stem.group);
  for (const char* w : {"stem.0.weight", "blocks.0.conv1.weight", "blocks.1.conv2.weight"}) {
    CHECK(layer(rep, w).channels_before == 16);
    CHECK(layer(rep, w).channels_after == 12);
  }
  CHECK(layer(rep, "fc.weight").reason.find("graph output") != std::string::npos);
  CHECK(rep.groups == 4);
  CHECK(rep.groups_pruned == 3);

  CHECK(shape(m, "stem.0.weight") == std::vector<int64_t>{12, 3, 3, 3});
  CHECK(shape(m, "blocks.0.conv1.weight") == std::vector<int64_t>{12, 12, 3, 3});
  CHECK(shape(m, "blocks.1.conv2.weight") == std::vector<int64_t>{12, 12, 3, 3});
  CHECK(shape(m, "blocks.0.bn2.running_var") == std::vector<int64_t>{12});
  CHECK(shape(m, "fc.weight") == std::vector<int64_t>{10, 12});
  // Exactly the zeroed channels went: no zero channel is left.
  for (const auto& [conv, bn] : layers) CHECK(zero_rows(weight(m, conv)) == 0);

  CHECK(rep.params_after < rep.params_before);
  CHECK(rep.params_after == ir::compute_model_stats(*m.graph).parameters);
  REQUIRE((rep.macs_before && rep.macs_after));
  CHECK(*rep.macs_after < *rep.macs_before);
  CHECK(static_cast<double>(*rep.macs_after) < 0.6 * static_cast<double>(*rep.macs_before));  // about (12/16)^2
}

TEST_CASE("prune-channels: mobilenet_block prunes through the depthwise conv, not the residual on the input",
          "[prune][channel]") {
  ir::Model m = load("mobilenet_block");
  const std::vector<int64_t> zero = every_fourth(32);
  // Expand conv (with bias) -> Clip(0, 6) -> depthwise conv (bias) -> Clip -> project conv.
  zero_channels(weight(m, "onnx::Conv_38"), zero);
  zero_channels(weight(m, "onnx::Conv_39"), zero);
  zero_channels(weight(m, "onnx::Conv_42"), zero);
  const auto feeds = golden_inputs("mobilenet_block");
  const std::vector<float> before = run(m, feeds);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  INFO(rep.summary());
  check_same(run(m, feeds), before);
  check_valid(m, "mobilenet_block");

  CHECK(shape(m, "onnx::Conv_38") == std::vector<int64_t>{24, 8, 1, 1});
  CHECK(shape(m, "onnx::Conv_41") == std::vector<int64_t>{24, 1, 3, 3});
  CHECK(shape(m, "onnx::Conv_42") == std::vector<int64_t>{24});
  CHECK(shape(m, "onnx::Conv_44") == std::vector<int64_t>{8, 24, 1, 1});
  const ir::Node* dw = m.graph->find_value("onnx::Conv_41")->uses().at(0).node;
  CHECK(dw->attribute("group")->i == 24);
  // The project conv's channels are added to the graph input: reported, kept.
  const ChannelPruneLayer& project = layer(rep, "onnx::Conv_44");
  CHECK(project.channels_after == 8);
  CHECK(project.reason.find("'input'") != std::string::npos);
  CHECK(rep.groups_pruned == 1);
  CHECK(rep.params_after < rep.params_before);
  REQUIRE((rep.macs_before && rep.macs_after));
  CHECK(*rep.macs_after < *rep.macs_before);
}

TEST_CASE("prune-channels: lenet_digits prunes through Flatten into the Gemm columns", "[prune][channel]") {
  ir::Model m = load("lenet_digits");
  zero_channels(weight(m, "features.0.weight"), every_fourth(16));
  zero_channels(weight(m, "features.0.bias"), every_fourth(16));
  zero_channels(weight(m, "features.3.weight"), every_fourth(32));
  zero_channels(weight(m, "features.3.bias"), every_fourth(32));
  zero_channels(weight(m, "classifier.1.weight"), every_fourth(64));
  zero_channels(weight(m, "classifier.1.bias"), every_fourth(64));
  const auto feeds = golden_inputs("lenet_digits");
  const std::vector<float> before = run(m, feeds);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  INFO(rep.summary());
  check_same(run(m, feeds), before);
  check_valid(m, "lenet_digits");

  CHECK(shape(m, "features.0.weight") == std::vector<int64_t>{12, 1, 3, 3});
  CHECK(shape(m, "features.3.weight") == std::vector<int64_t>{24, 12, 3, 3});
  CHECK(shape(m, "classifier.1.weight") == std::vector<int64_t>{48, 96});  // 24 channels x 2x2
  CHECK(shape(m, "classifier.3.weight") == std::vector<int64_t>{10, 48});
  // Parameters: 160 + 4640 + 8256 + 650 before; 120 + 2616 + 4656 + 490 after.
  CHECK(rep.params_before == 13706);
  CHECK(rep.params_after == 7882);
  // MACs per sample: 16*64*9 + 32*16*144 + 64*128 + 10*64 before; 12*64*9 + 24*16*108 + 48*96 + 10*48 after.
  CHECK(rep.macs_before == 91776);
  CHECK(rep.macs_after == 53472);
}

TEST_CASE("prune-channels: options skip, override and round channel counts", "[prune][channel]") {
  ir::Model m = load("lenet_digits");
  ChannelPruneOptions o;
  o.ratio = 0.3;
  o.round_to = 8;
  o.skip = {"/features/features.0/*"};
  o.overrides = {{"classifier.1.weight", 0.5}};
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  CHECK(layer(rep, "features.0.weight").channels_after == 16);
  CHECK(layer(rep, "features.0.weight").reason.find("skip") != std::string::npos);
  CHECK(layer(rep, "features.3.weight").channels_after == 24);  // 32 - floor(9.6) = 23, rounded up to 24
  CHECK(layer(rep, "classifier.1.weight").channels_after == 32);
  check_valid(m, "lenet_digits_options");
  CHECK(run(m, golden_inputs("lenet_digits")).size() == 40);

  ir::Model again = load("lenet_digits");
  o.ratio = 1.0;
  CHECK_THROWS_AS(passes::prune_channels(again, o), Error);
}

TEST_CASE("prune-channels: round_to auto rounds to 8 from 32 kept channels on, not below", "[prune][channel]") {
  constexpr int64_t kAuto = ChannelPruneOptions::kRoundAuto;
  CHECK(passes::round_kept_channels(31, 64, kAuto) == 31);  // small layers keep what the ratio says
  CHECK(passes::round_kept_channels(32, 64, kAuto) == 32);
  CHECK(passes::round_kept_channels(33, 64, kAuto) == 40);
  CHECK(passes::round_kept_channels(60, 63, kAuto) == 63);  // never more than the layer has
  CHECK(passes::round_kept_channels(0, 8, kAuto) == 1);     // never empty
  CHECK(passes::round_kept_channels(5, 64, 4) == 8);        // a number forces its multiple at any size
  CHECK(passes::round_kept_channels(33, 64, 1) == 33);
  // lenet_digits at 0.3 by default: Conv 16 -> 12 and 32 -> 23 (below 32: not rounded), Gemm 64 -> 45 -> 48.
  ir::Model m = load("lenet_digits");
  ChannelPruneOptions o;
  o.ratio = 0.3;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  CHECK(layer(rep, "features.0.weight").channels_after == 12);
  CHECK(layer(rep, "features.3.weight").channels_after == 23);
  CHECK(layer(rep, "classifier.1.weight").channels_after == 48);
  check_valid(m, "lenet_digits_round_auto");
}

// ---- hand-built graphs ----------------------------------------------------------------------

ir::Tensor random_tensor(std::vector<int64_t> dims, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return ir::Tensor::from_floats(std::move(dims), v);
}

ir::Model new_model() {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", 13}};
  m.graph = std::make_unique<ir::Graph>("g");
  return m;
}

ir::Value* conv3x3(GraphBuilder& b, ir::Value* x, const std::string& name, int64_t cin, int64_t cout, uint32_t seed) {
  ir::Value* w = b.initializer(name + ".weight", random_tensor({cout, cin, 3, 3}, seed));
  ir::Value* bias = b.initializer(name + ".bias", random_tensor({cout}, seed + 1));
  ir::Value* y = b.op("Conv", {x, w, bias}, {GraphBuilder::attr("kernel_shape", std::vector<int64_t>{3, 3}),
                                             GraphBuilder::attr("pads", std::vector<int64_t>{1, 1, 1, 1})});
  b.last_node()->name = name;
  return y;
}

kernels::NamedTensors random_input(std::vector<int64_t> dims) { return {{"x", random_tensor(std::move(dims), 7)}}; }

TEST_CASE("prune-channels: Concat offsets each input's channels", "[prune][channel]") {
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3, 8, 8});
  ir::Value* a = b.op("Relu", {conv3x3(b, x, "a", 3, 8, 1)});
  ir::Value* c = b.op("Relu", {conv3x3(b, x, "c", 3, 8, 3)});
  ir::Value* cat = b.op("Concat", {a, c}, {GraphBuilder::attr("axis", int64_t{1})});
  b.output(conv3x3(b, cat, "out", 16, 4, 5), ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 4, 8, 8}));
  zero_channels(weight(m, "a.weight"), {1, 5});
  zero_channels(weight(m, "a.bias"), {1, 5});
  zero_channels(weight(m, "c.weight"), {2, 6});
  zero_channels(weight(m, "c.bias"), {2, 6});
  const auto feeds = random_input({2, 3, 8, 8});
  const std::vector<float> before = run(m, feeds);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  check_same(run(m, feeds), before);
  check_valid(m, "concat");
  CHECK(shape(m, "out.weight") == std::vector<int64_t>{4, 12, 3, 3});
  CHECK(rep.groups_pruned == 2);
  CHECK(layer(rep, "out.weight").reason.find("graph output") != std::string::npos);
}

TEST_CASE("prune-channels: a Softmax over channels and a channel-splitting Reshape block their groups",
          "[prune][channel]") {
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{1, 3, 8, 8});
  ir::Value* s = b.op("Softmax", {conv3x3(b, x, "c1", 3, 8, 1)}, {GraphBuilder::attr("axis", int64_t{1})});
  ir::Value* y = conv3x3(b, s, "c2", 8, 8, 3);
  const std::vector<int64_t> to = {1, 2, 4, 64};
  ir::Value* shape_v = b.initializer("shape", ir::Tensor::from_int64s({4}, to));
  b.output(b.op("Reshape", {y, shape_v}), ir::TypeInfo::tensor(ir::DType::kFloat, to));
  const auto feeds = random_input({1, 3, 8, 8});
  const std::vector<float> before = run(m, feeds);

  ChannelPruneOptions o;
  o.ratio = 0.5;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  CHECK(rep.groups == 2);
  CHECK(rep.groups_pruned == 0);
  CHECK(layer(rep, "c1.weight").reason.find("Softmax") != std::string::npos);
  CHECK(layer(rep, "c2.weight").reason.find("Reshape") != std::string::npos);
  CHECK(shape(m, "c1.weight") == std::vector<int64_t>{8, 3, 3, 3});
  CHECK(run(m, feeds) == before);
  check_valid(m, "blocked");
}

TEST_CASE("prune-channels: per-channel constants, Reshape to [N, C*H*W] and a Gemm without transB follow",
          "[prune][channel]") {
  // x -> conv a -> Mul by [8,1,1] -> MaxPool 2x2 -> Reshape [0, 32] -> Gemm (B [32, 5]) -> out
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3, 4, 4});
  ir::Value* scaled = b.op("Mul", {conv3x3(b, x, "a", 3, 8, 1), b.initializer("scale", random_tensor({8, 1, 1}, 9))});
  ir::Value* pooled = b.op("MaxPool", {scaled}, {GraphBuilder::attr("kernel_shape", std::vector<int64_t>{2, 2}),
                                                 GraphBuilder::attr("strides", std::vector<int64_t>{2, 2})});
  const std::vector<int64_t> to = {0, 32};
  ir::Value* flat = b.op("Reshape", {pooled, b.initializer("flat_shape", ir::Tensor::from_int64s({2}, to))});
  ir::Value* y = b.op("Gemm", {flat, b.initializer("fc.weight", random_tensor({32, 5}, 11)),
                               b.initializer("fc.bias", random_tensor({5}, 12))});
  b.last_node()->name = "fc";
  b.output(y, ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 5}));
  zero_channels(weight(m, "a.weight"), {2, 6});
  zero_channels(weight(m, "a.bias"), {2, 6});
  const auto feeds = random_input({2, 3, 4, 4});
  const std::vector<float> before = run(m, feeds);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  check_same(run(m, feeds), before);
  check_valid(m, "reshape_gemm");
  CHECK(rep.groups_pruned == 1);
  CHECK(shape(m, "scale") == std::vector<int64_t>{6, 1, 1});
  CHECK(shape(m, "fc.weight") == std::vector<int64_t>{24, 5});
  CHECK(weight(m, "flat_shape").values<int64_t>()[1] == 24);
}

TEST_CASE("prune-channels: a gated residual (Mul of two tensors) ties its channels", "[prune][channel]") {
  // x -> c1 -> Relu -> r;  r -> GlobalAveragePool -> c2 -> Sigmoid -> gate;  r * gate -> c3 -> out
  ir::Model m = new_model();
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3, 8, 8});
  ir::Value* r = b.op("Relu", {conv3x3(b, x, "c1", 3, 8, 1)});
  ir::Value* gate = b.op("Sigmoid", {conv3x3(b, b.op("GlobalAveragePool", {r}), "c2", 8, 8, 3)});
  b.output(conv3x3(b, b.op("Mul", {r, gate}), "c3", 8, 4, 5),
           ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 4, 8, 8}));
  zero_channels(weight(m, "c1.weight"), {0, 3});
  zero_channels(weight(m, "c1.bias"), {0, 3});
  zero_channels(weight(m, "c2.weight"), {0, 3});
  const auto feeds = random_input({2, 3, 8, 8});
  const std::vector<float> before = run(m, feeds);

  ChannelPruneOptions o;
  o.ratio = 0.25;
  const ChannelPruneReport rep = passes::prune_channels(m, o);
  check_same(run(m, feeds), before);
  check_valid(m, "gated");
  CHECK(layer(rep, "c1.weight").group == layer(rep, "c2.weight").group);
  CHECK(shape(m, "c1.weight") == std::vector<int64_t>{6, 3, 3, 3});
  CHECK(shape(m, "c2.weight") == std::vector<int64_t>{6, 6, 3, 3});
  CHECK(shape(m, "c3.weight") == std::vector<int64_t>{4, 6, 3, 3});
}

}  // namespace
}  // namespace scalec
