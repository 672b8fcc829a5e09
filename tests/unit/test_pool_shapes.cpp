// Shape and type rules of the pool family: MaxPool (with Indices), AveragePool, LpPool (strides,
// pads, auto_pad, dilations, ceil_mode), Global*Pool, MaxUnpool with and without output_shape,
// Resize (scales, sizes, axes, keep_aspect_ratio_policy; known and unknown values) and Upsample,
// and agreement of the pooling rule with the kernel.
#include <catch2/catch.hpp>
#include <random>

#include "ir/error.h"
#include "kernels/exec/executor.h"
#include "support/infer_node.h"

using namespace scalec;
using Catch::Matchers::Contains;
using ir::DType;
using ir::GraphBuilder;
using test::dim;
using test::infer_node;
using test::infer_one;
using test::NodeInput;

namespace {

NodeInput f32(std::vector<ir::Dim> dims) { return NodeInput::of(DType::kFloat, std::move(dims)); }
ir::Attribute ints(const char* name, std::vector<int64_t> v) { return GraphBuilder::attr(name, std::move(v)); }
NodeInput known_ints(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return NodeInput::known(ir::Tensor::from_int64s({n}, v));
}
ir::Attribute floats(const char* name, std::vector<float> v) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kFloats;
  a.floats = std::move(v);
  return a;
}
NodeInput known_floats(std::vector<float> v) {
  const auto n = static_cast<int64_t>(v.size());
  return NodeInput::known(ir::Tensor::from_floats({n}, v));
}

}  // namespace

TEST_CASE("MaxPool keeps the batch symbol and types Indices as int64", "[shapes]") {
  const std::vector<std::string> types = infer_node("MaxPool", 12, {f32({dim("N"), dim(3), dim(32), dim(32)})},
                                                    {ints("kernel_shape", {2, 2}), ints("strides", {2, 2})}, 2);
  CHECK(types == std::vector<std::string>{"float[N, 3, 16, 16]", "int64[N, 3, 16, 16]"});
  CHECK(infer_one("MaxPool", 1, {f32({dim(1), dim(1), dim(5)})}, {ints("kernel_shape", {3})}) == "float[1, 1, 3]");
  CHECK(infer_one("MaxPool", 12, {NodeInput::of(DType::kUInt8, {dim(1), dim(1), dim(5), dim(5)})},
                  {ints("kernel_shape", {3, 3}), ints("dilations", {2, 2})}) == "uint8[1, 1, 1, 1]");
}

TEST_CASE("Pooling ceil_mode, auto_pad and pads", "[shapes]") {
  auto pool = [](const char* op, std::vector<ir::Attribute> attrs) {
    return infer_one(op, 19, {f32({dim("N"), dim(2), dim(32), dim(5)})}, std::move(attrs));
  };
  CHECK(pool("AveragePool", {ints("kernel_shape", {3, 2}), ints("strides", {2, 2})}) == "float[N, 2, 15, 2]");
  CHECK(pool("AveragePool", {ints("kernel_shape", {3, 2}), ints("strides", {2, 2}),
                             GraphBuilder::attr("ceil_mode", int64_t{1})}) == "float[N, 2, 16, 3]");
  // ceil_mode drops a last window that would start in the end pad: 5 + 2 pads, kernel 2, stride 2.
  CHECK(pool("MaxPool", {ints("kernel_shape", {1, 2}), ints("strides", {1, 2}), ints("pads", {0, 0, 0, 2}),
                         GraphBuilder::attr("ceil_mode", int64_t{1})}) == "float[N, 2, 32, 3]");
  CHECK(pool("LpPool", {ints("kernel_shape", {3, 3}), GraphBuilder::attr("auto_pad", std::string("SAME_UPPER")),
                        ints("strides", {3, 3})}) == "float[N, 2, 11, 2]");
  CHECK(pool("MaxPool", {ints("kernel_shape", {3, 3}), GraphBuilder::attr("auto_pad", std::string("VALID")),
                         ints("strides", {2, 2}), GraphBuilder::attr("ceil_mode", int64_t{1})}) ==
        "float[N, 2, 15, 2]");
  CHECK(pool("AveragePool", {ints("kernel_shape", {3, 3}), ints("pads", {1, 1, 1, 1})}) == "float[N, 2, 32, 5]");
  // Unknown spatial sizes: unknown outputs, except SAME at stride 1.
  CHECK(infer_one("MaxPool", 12, {f32({dim("N"), dim(2), dim("H"), dim("W")})},
                  {ints("kernel_shape", {3, 3}), GraphBuilder::attr("auto_pad", std::string("SAME_LOWER"))}) ==
        "float[N, 2, H, W]");
  CHECK(infer_one("MaxPool", 12, {f32({dim("N"), dim(2), dim("H"), dim("W")})}, {ints("kernel_shape", {3, 3})}) ==
        "float[N, 2, ?, ?]");
  CHECK(infer_one("MaxPool", 12, {NodeInput::rank_unknown(DType::kFloat)}, {ints("kernel_shape", {3, 3})}) ==
        "float[?, ?, ?, ?]");
}

TEST_CASE("Pooling errors name the node", "[shapes]") {
  const NodeInput x = f32({dim(1), dim(1), dim(4), dim(4)});
  CHECK_THROWS_WITH(infer_one("MaxPool", 12, {x}), Contains("[MaxPool node") && Contains("kernel_shape is required"));
  CHECK_THROWS_WITH(infer_one("AveragePool", 12, {x}, {ints("kernel_shape", {2})}),
                    Contains("kernel_shape has 1 values but the input has 2 spatial axes"));
  CHECK_THROWS_WITH(infer_one("MaxPool", 12, {x}, {ints("kernel_shape", {5, 5})}),
                    Contains("larger than the padded input"));
  CHECK_THROWS_WITH(
      infer_one("MaxPool", 12, {x}, {ints("kernel_shape", {2, 2}), GraphBuilder::attr("storage_order", int64_t{2})}),
      Contains("storage_order must be 0 or 1"));
  CHECK_THROWS_WITH(infer_one("MaxPool", 12, {f32({dim(1), dim(4)})}, {ints("kernel_shape", {2})}),
                    Contains("rank >= 3"));
}

TEST_CASE("Global pools reduce every spatial axis to 1", "[shapes]") {
  CHECK(infer_one("GlobalAveragePool", 1, {f32({dim("N"), dim(8), dim("H"), dim("W")})}) == "float[N, 8, 1, 1]");
  CHECK(infer_one("GlobalMaxPool", 22, {f32({dim(2), dim(8), dim(3)})}) == "float[2, 8, 1]");
  CHECK(infer_one("GlobalLpPool", 2, {NodeInput::rank_unknown(DType::kDouble)}) == "double[?]");
}

TEST_CASE("MaxUnpool with and without output_shape", "[shapes]") {
  const NodeInput x = f32({dim("N"), dim(1), dim(2), dim(2)});
  const NodeInput idx = NodeInput::of(DType::kInt64, {dim("N"), dim(1), dim(2), dim(2)});
  const std::vector<ir::Attribute> attrs = {ints("kernel_shape", {2, 2}), ints("strides", {2, 2})};
  CHECK(infer_one("MaxUnpool", 11, {x, idx}, attrs) == "float[N, 1, 4, 4]");
  CHECK(infer_one("MaxUnpool", 11, {x, idx},
                  {ints("kernel_shape", {2, 2}), ints("strides", {2, 2}), ints("pads", {1, 0, 0, 1})}) ==
        "float[N, 1, 3, 3]");
  CHECK(infer_one("MaxUnpool", 11, {x, idx, known_ints({1, 1, 5, 5})}, attrs) == "float[1, 1, 5, 5]");
  CHECK(infer_one("MaxUnpool", 11, {x, idx, NodeInput::of(DType::kInt64, {dim(4)})}, attrs) == "float[?, ?, ?, ?]");
  CHECK_THROWS_WITH(infer_one("MaxUnpool", 11, {x, idx, known_ints({1, 5, 5})}, attrs),
                    Contains("output_shape must have 4 values"));
  CHECK_THROWS_WITH(
      infer_one("MaxUnpool", 11, {x, NodeInput::of(DType::kInt64, {dim(1), dim(1), dim(3), dim(2)})}, attrs),
      Contains("indices int64[1, 1, 3, 2] must have the shape of X"));
}

TEST_CASE("Resize with known scales or sizes", "[shapes]") {
  const NodeInput x = f32({dim("N"), dim(3), dim(4), dim(6)});
  const NodeInput none = NodeInput::none();
  CHECK(infer_one("Resize", 13, {x, none, known_floats({1, 1, 2, 0.5f})}) == "float[N, 3, 8, 3]");
  // Opset 11: roi and scales given as empty tensors, sizes stretch every axis.
  CHECK(infer_one("Resize", 11, {x, known_floats({}), known_floats({}), known_ints({1, 3, 5, 7})}) ==
        "float[1, 3, 5, 7]");
  CHECK(infer_one("Resize", 18, {x, none, none, known_ints({5, 7})}, {ints("axes", {2, -1})}) == "float[N, 3, 5, 7]");
  CHECK(infer_one("Resize", 18, {f32({dim(1), dim(3), dim(4), dim(8)}), none, none, known_ints({6, 6})},
                  {ints("axes", {2, 3}), GraphBuilder::attr("keep_aspect_ratio_policy", std::string("not_larger"))}) ==
        "float[1, 3, 3, 6]");
  // A symbolic axis scaled by 1 stays; under not_smaller an unknown resized axis leaves all unknown.
  CHECK(infer_one("Resize", 13, {f32({dim("N"), dim(3), dim("H"), dim(6)}), none, known_floats({1, 1, 2, 2})}) ==
        "float[N, 3, ?, 12]");
  CHECK(infer_one("Resize", 18, {f32({dim(1), dim(3), dim("H"), dim(8)}), none, none, known_ints({6, 6})},
                  {ints("axes", {2, 3}), GraphBuilder::attr("keep_aspect_ratio_policy", std::string("not_smaller"))}) ==
        "float[1, 3, ?, ?]");
  CHECK_THROWS_WITH(infer_one("Resize", 13, {x, none, known_floats({1, 1, 2})}),
                    Contains("scales has 3 values, expected 4"));
  CHECK_THROWS_WITH(infer_one("Resize", 13, {x, none, known_floats({1, 1, 2, 2}), known_ints({1, 3, 8, 8})}),
                    Contains("exactly one of scales and sizes"));
}

TEST_CASE("Resize with unknown scales or sizes keeps rank and untouched axes", "[shapes]") {
  const NodeInput x = f32({dim("N"), dim(3), dim(4), dim(6)});
  const NodeInput none = NodeInput::none();
  const NodeInput sizes = NodeInput::of(DType::kInt64, {dim(2)});
  CHECK(infer_one("Resize", 13, {x, none, NodeInput::of(DType::kFloat, {dim(4)})}) == "float[?, ?, ?, ?]");
  CHECK(infer_one("Resize", 18, {x, none, none, sizes}, {ints("axes", {2, 3})}) == "float[N, 3, ?, ?]");
  // Rank unknown: the number of sizes tells it; known sizes (stretch) are the output.
  CHECK(infer_one("Resize", 13,
                  {NodeInput::rank_unknown(DType::kFloat), none, none, NodeInput::of(DType::kInt64, {dim(3)})}) ==
        "float[?, ?, ?]");
  CHECK(infer_one("Resize", 13, {NodeInput::rank_unknown(DType::kFloat), none, none, known_ints({2, 5})}) ==
        "float[2, 5]");
  CHECK(infer_one("Resize", 13, {x, none, known_floats({}), sizes}, {ints("axes", {2, 3})}) == "float[N, 3, ?, ?]");
}

TEST_CASE("Resize-10 and Upsample: scales input, attribute and height/width", "[shapes]") {
  const NodeInput x = f32({dim("N"), dim(2), dim(3), dim(4)});
  CHECK(infer_one("Resize", 10, {x, known_floats({1, 1, 2, 1.5f})}) == "float[N, 2, 6, 6]");
  CHECK(infer_one("Resize", 10, {x, NodeInput::of(DType::kFloat, {dim(4)})}) == "float[?, ?, ?, ?]");
  CHECK(infer_one("Upsample", 9, {x, known_floats({1, 1, 2, 2})}) == "float[N, 2, 6, 8]");
  CHECK(infer_one("Upsample", 7, {x}, {floats("scales", {1, 1, 3, 2})}) == "float[N, 2, 9, 8]");
  CHECK(infer_one("Upsample", 1, {x},
                  {GraphBuilder::attr("height_scale", 2.0f), GraphBuilder::attr("width_scale", 3.0f)}) ==
        "float[N, 2, 6, 12]");
  CHECK_THROWS_WITH(infer_one("Upsample", 1, {f32({dim(2), dim(3), dim(4)})},
                              {GraphBuilder::attr("height_scale", 2.0f), GraphBuilder::attr("width_scale", 3.0f)}),
                    Contains("needs a 4-D input"));
  CHECK_THROWS_WITH(infer_one("Upsample", 8, {x}), Contains("the scales attribute is required"));
}

TEST_CASE("Pooling rules agree with the kernel", "[shapes]") {
  std::mt19937 rng(11);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const char* modes[] = {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"};
  const char* ops[] = {"MaxPool", "AveragePool", "LpPool"};
  int checked = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const std::string op = ops[trial % 3];
    const int64_t in = pick(1, 9), k = pick(1, 4), s = pick(1, 3), d = pick(1, 2), pb = pick(0, 2), pe = pick(0, 2);
    const std::string mode = modes[pick(0, 3)];
    std::vector<ir::Attribute> attrs = {ints("kernel_shape", {k}), ints("strides", {s}), ints("dilations", {d}),
                                        GraphBuilder::attr("auto_pad", mode),
                                        GraphBuilder::attr("ceil_mode", pick(0, 1))};
    if (mode == "NOTSET") attrs.push_back(ints("pads", {pb, pe}));
    std::string inferred;
    try {
      inferred = infer_node(op, 22, {f32({dim(1), dim(2), dim(in)})}, attrs).front();
    } catch (const Error&) {
      inferred = "error";
    }
    ir::Model m;
    m.ir_version = 8;
    m.opset_imports.push_back({"", 22});
    m.graph = std::make_unique<ir::Graph>("g");
    GraphBuilder b(*m.graph);
    ir::Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{1, 2, in});
    m.graph->outputs.push_back(b.op(op, {x}, attrs));
    std::string computed;
    try {
      kernels::Executor exec(m);
      ir::Tensor y = exec.run({{"x", ir::Tensor(DType::kFloat, {1, 2, in})}}).front().second;
      computed = ir::type_to_string(ir::TypeInfo::tensor(y.dtype(), y.shape()));
    } catch (const Error&) {
      computed = "error";
    }
    INFO(op << " in " << in << " k " << k << " s " << s << " d " << d << " pads " << pb << "," << pe << " " << mode);
    CHECK(inferred == computed);
    checked += computed != "error";
  }
  CHECK(checked > 100);
}
