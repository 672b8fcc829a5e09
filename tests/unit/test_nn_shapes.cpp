// Shape and type rules of the nn family (Conv, ConvTranspose, Gemm, MatMul): symbolic batch kept,
// auto_pad, dilations, strides, groups, kernel_shape from W, output_shape/output_padding, Gemm's C,
// MatMul's 1-D and batched operands, errors on contradicting inputs, and agreement with the kernels.
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

}  // namespace

TEST_CASE("Conv keeps the symbolic batch and computes spatial sizes", "[shapes]") {
  // 7x7 stride 2 pad 3 (ResNet stem): 224 -> 112.
  CHECK(infer_one("Conv", 13, {f32({dim("N"), dim(3), dim(224), dim(224)}), f32({dim(64), dim(3), dim(7), dim(7)})},
                  {GraphBuilder::attr("strides", std::vector<int64_t>{2, 2}),
                   GraphBuilder::attr("pads", std::vector<int64_t>{3, 3, 3, 3})}) == "float[N, 64, 112, 112]");
  // Dilation 2 widens a 3-tap kernel to 5: 7 -> 3; asymmetric pads; 1-D and 3-D.
  CHECK(infer_one("Conv", 11, {f32({dim(1), dim(2), dim(7), dim(7)}), f32({dim(4), dim(2), dim(3), dim(3)})},
                  {GraphBuilder::attr("dilations", std::vector<int64_t>{2, 2}),
                   GraphBuilder::attr("pads", std::vector<int64_t>{0, 1, 0, 0})}) == "float[1, 4, 3, 4]");
  CHECK(infer_one("Conv", 1, {f32({dim(2), dim(1), dim(10)}), f32({dim(3), dim(1), dim(4)})},
                  {GraphBuilder::attr("strides", std::vector<int64_t>{3})}) == "float[2, 3, 3]");
  CHECK(infer_one("Conv", 22,
                  {f32({dim(1), dim(1), dim(4), dim(5), dim(6)}), f32({dim(2), dim(1), dim(2), dim(2), dim(2)})}) ==
        "float[1, 2, 3, 4, 5]");
}

TEST_CASE("Conv auto_pad SAME_UPPER, SAME_LOWER and VALID", "[shapes]") {
  auto conv = [](const char* mode, int64_t stride) {
    return infer_one("Conv", 11, {f32({dim(1), dim(1), dim(5), dim(6)}), f32({dim(1), dim(1), dim(3), dim(3)})},
                     {GraphBuilder::attr("auto_pad", std::string(mode)),
                      GraphBuilder::attr("strides", std::vector<int64_t>{stride, stride}),
                      GraphBuilder::attr("pads", std::vector<int64_t>{})});
  };
  CHECK(conv("SAME_UPPER", 2) == "float[1, 1, 3, 3]");
  CHECK(conv("SAME_LOWER", 2) == "float[1, 1, 3, 3]");
  CHECK(conv("SAME_UPPER", 1) == "float[1, 1, 5, 6]");
  CHECK(conv("VALID", 2) == "float[1, 1, 2, 2]");
  CHECK(conv("NOTSET", 1) == "float[1, 1, 3, 4]");
  CHECK_THROWS_WITH(conv("SAME", 1), Contains("unknown auto_pad 'SAME'"));
}

TEST_CASE("Conv with unknown spatial sizes keeps what it can", "[shapes]") {
  const NodeInput x = f32({dim("N"), dim(3), dim("H"), dim("W")});
  // A 1x1 kernel at stride 1, or SAME at stride 1, leaves H and W as they are.
  CHECK(infer_one("Conv", 13, {x, f32({dim(16), dim(3), dim(1), dim(1)})}) == "float[N, 16, H, W]");
  CHECK(infer_one("Conv", 13, {x, f32({dim(16), dim(3), dim(3), dim(3)})},
                  {GraphBuilder::attr("auto_pad", std::string("SAME_LOWER"))}) == "float[N, 16, H, W]");
  CHECK(infer_one("Conv", 13, {x, f32({dim(16), dim(3), dim(3), dim(3)})}) == "float[N, 16, ?, ?]");
  // kernel_shape stands in for W's unknown kernel dims; W's rank alone gives the rank.
  CHECK(infer_one("Conv", 13, {f32({dim(1), dim(3), dim(8), dim(8)}), f32({dim("M"), dim(3), dim("kh"), dim("kw")})},
                  {GraphBuilder::attr("kernel_shape", std::vector<int64_t>{3, 3})}) == "float[1, M, 6, 6]");
  CHECK(infer_one("Conv", 13, {NodeInput::rank_unknown(DType::kFloat), f32({dim(8), dim(3), dim(3), dim(3)})}) ==
        "float[?, 8, ?, ?]");
  CHECK(infer_one("Conv", 13, {NodeInput::rank_unknown(DType::kFloat), NodeInput::rank_unknown(DType::kFloat)}) ==
        "float[?]");
}

TEST_CASE("Conv groups and errors on contradicting inputs", "[shapes]") {
  auto grouped = [](int64_t group) {
    return infer_one("Conv", 13, {f32({dim(1), dim(8), dim(5), dim(5)}), f32({dim(8), dim(2), dim(3), dim(3)})},
                     {GraphBuilder::attr("group", group)});
  };
  CHECK(grouped(4) == "float[1, 8, 3, 3]");
  CHECK_THROWS_WITH(grouped(3), Contains("[Conv node") && Contains("X has 8 channels"));
  CHECK_THROWS_WITH(
      infer_one("Conv", 13, {f32({dim(1), dim(3), dim(2), dim(2)}), f32({dim(4), dim(3), dim(3), dim(3)})}),
      Contains("larger than the padded input"));
  CHECK_THROWS_WITH(
      infer_one("Conv", 13,
                {f32({dim(1), dim(3), dim(5), dim(5)}), f32({dim(4), dim(3), dim(3), dim(3)}), f32({dim(5)})}),
      Contains("B float[5] must have shape [4]"));
  CHECK_THROWS_WITH(
      infer_one("Conv", 13, {f32({dim(1), dim(3), dim(5), dim(5)}), f32({dim(4), dim(3), dim(3), dim(3)})},
                {GraphBuilder::attr("kernel_shape", std::vector<int64_t>{2, 2})}),
      Contains("kernel_shape [2, 2] does not match W"));
  CHECK_THROWS_WITH(infer_one("Conv", 13, {f32({dim(1), dim(3), dim(5)}), f32({dim(4), dim(3), dim(3), dim(3)})}),
                    Contains("must have the rank of X"));
  CHECK_THROWS_WITH(
      infer_one("Conv", 13, {f32({dim(1), dim(3), dim(5), dim(5)}), f32({dim(4), dim(3), dim(3), dim(3)})},
                {GraphBuilder::attr("strides", std::vector<int64_t>{1})}),
      Contains("strides has 1 values, expected 2"));
}

TEST_CASE("ConvTranspose output sizes: pads, output_padding, output_shape, SAME, groups", "[shapes]") {
  const NodeInput x = f32({dim("N"), dim(4), dim(3), dim(3)});
  const NodeInput w = f32({dim(4), dim(2), dim(3), dim(3)});
  CHECK(infer_one("ConvTranspose", 11, {x, w}) == "float[N, 2, 5, 5]");
  CHECK(infer_one("ConvTranspose", 11, {x, w},
                  {GraphBuilder::attr("strides", std::vector<int64_t>{3, 2}),
                   GraphBuilder::attr("output_padding", std::vector<int64_t>{1, 1})}) == "float[N, 2, 10, 8]");
  CHECK(infer_one("ConvTranspose", 11, {x, w},
                  {GraphBuilder::attr("strides", std::vector<int64_t>{3, 2}),
                   GraphBuilder::attr("output_shape", std::vector<int64_t>{10, 8})}) == "float[N, 2, 10, 8]");
  CHECK(infer_one("ConvTranspose", 11, {x, w},
                  {GraphBuilder::attr("output_shape", std::vector<int64_t>{1, 2, 7, 6})}) == "float[N, 2, 7, 6]");
  CHECK(infer_one("ConvTranspose", 11, {x, w},
                  {GraphBuilder::attr("strides", std::vector<int64_t>{2, 2}),
                   GraphBuilder::attr("auto_pad", std::string("SAME_UPPER"))}) == "float[N, 2, 6, 6]");
  CHECK(infer_one("ConvTranspose", 11, {x, w}, {GraphBuilder::attr("pads", std::vector<int64_t>{1, 0, 1, 2})}) ==
        "float[N, 2, 3, 3]");
  CHECK(infer_one("ConvTranspose", 11, {x, w}, {GraphBuilder::attr("group", int64_t{2})}) == "float[N, 4, 5, 5]");
  CHECK(infer_one("ConvTranspose", 11, {f32({dim(1), dim(4), dim("H"), dim(3)}), w}) == "float[1, 2, ?, 5]");
  CHECK(infer_one("ConvTranspose", 11, {f32({dim(1), dim(4), dim("H"), dim(3)}), w},
                  {GraphBuilder::attr("auto_pad", std::string("SAME_LOWER"))}) == "float[1, 2, H, 3]");
  CHECK_THROWS_WITH(infer_one("ConvTranspose", 11, {f32({dim(1), dim(3), dim(3), dim(3)}), w}),
                    Contains("X has 3 channels but W"));
  CHECK_THROWS_WITH(
      infer_one("ConvTranspose", 11, {x, w}, {GraphBuilder::attr("pads", std::vector<int64_t>{3, 0, 3, 0})}),
      Contains("exceed the output extent 5"));
}

TEST_CASE("Gemm: transA, transB and C broadcasting", "[shapes]") {
  const NodeInput a = f32({dim("M"), dim(3)});
  const NodeInput at = f32({dim(3), dim("M")});
  const NodeInput b = f32({dim(3), dim(4)});
  const NodeInput bt = f32({dim(4), dim(3)});
  CHECK(infer_one("Gemm", 13, {a, b}) == "float[M, 4]");
  CHECK(infer_one("Gemm", 13, {at, bt, f32({dim(4)})},
                  {GraphBuilder::attr("transA", int64_t{1}), GraphBuilder::attr("transB", int64_t{1})}) ==
        "float[M, 4]");
  CHECK(infer_one("Gemm", 13, {a, b, f32({dim("M"), dim(1)})}) == "float[M, 4]");
  CHECK_THROWS_WITH(infer_one("Gemm", 13, {a, b, f32({dim(3)})}), Contains("C float[3] does not broadcast to"));
  CHECK_NOTHROW(infer_one("Gemm", 13, {a, b, f32({dim(3)})}, {GraphBuilder::attr("beta", 0.0f)}));  // C unread
  CHECK_THROWS_WITH(infer_one("Gemm", 13, {a, bt}), Contains("op(A) has 3 columns but op(B) has 4 rows"));
  CHECK_THROWS_WITH(infer_one("Gemm", 13, {f32({dim(2), dim(3), dim(1)}), b}), Contains("must be matrices"));
  CHECK_THROWS_WITH(infer_one("Gemm", 13, {a, NodeInput::of(DType::kDouble, {dim(3), dim(4)})}),
                    Contains("different element types"));
  // Opsets 1-6: C must be exactly [M, N] unless broadcast=1.
  const NodeInput a2 = f32({dim(2), dim(3)});
  CHECK_THROWS_WITH(infer_one("Gemm", 6, {a2, b, f32({dim(1), dim(4)})}), Contains("does not match"));
  CHECK(infer_one("Gemm", 6, {a2, b, f32({dim(1), dim(4)})}, {GraphBuilder::attr("broadcast", int64_t{1})}) ==
        "float[2, 4]");
  CHECK(infer_one("Gemm", 11,
                  {NodeInput::of(DType::kInt32, {dim(2), dim(3)}), NodeInput::of(DType::kInt32, {dim(3), dim(5)})}) ==
        "int32[2, 5]");
}

TEST_CASE("MatMul: 1-D operands, batch broadcasting, symbolic dims", "[shapes]") {
  CHECK(infer_one("MatMul", 13, {f32({dim(3)}), f32({dim(3), dim(4)})}) == "float[4]");
  CHECK(infer_one("MatMul", 13, {f32({dim("B"), dim(2), dim(3)}), f32({dim(3)})}) == "float[B, 2]");
  CHECK(infer_one("MatMul", 13, {f32({dim(3)}), f32({dim(3)})}) == "float[]");
  CHECK(infer_one("MatMul", 9, {f32({dim(2), dim(1), dim(3), dim(4)}), f32({dim(5), dim(4), dim(6)})}) ==
        "float[2, 5, 3, 6]");
  CHECK(infer_one("MatMul", 13, {f32({dim("B"), dim("S"), dim(64)}), f32({dim(64), dim(128)})}) == "float[B, S, 128]");
  CHECK(infer_one("MatMul", 13, {f32({dim("B"), dim(2), dim(3)}), NodeInput::rank_unknown(DType::kFloat)}) ==
        "float[?]");
  CHECK_THROWS_WITH(infer_one("MatMul", 13, {f32({dim(2), dim(3)}), f32({dim(4), dim(5)})}),
                    Contains("[MatMul node") && Contains("K = 3 vs 4"));
  CHECK_THROWS_WITH(infer_one("MatMul", 13, {f32({dim(2), dim(2), dim(3)}), f32({dim(3), dim(3), dim(5)})}),
                    Contains("cannot be broadcast"));
}

TEST_CASE("Conv and ConvTranspose rules agree with the kernels", "[shapes]") {
  // Random geometries through both the rule and the Executor: the shapes must be equal.
  std::mt19937 rng(7);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const char* modes[] = {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"};
  int checked = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const bool transpose = trial % 2 == 1;
    const std::string op = transpose ? "ConvTranspose" : "Conv";
    const int64_t in = pick(1, 9), k = pick(1, 4), s = pick(1, 3), d = pick(1, 2), pb = pick(0, 2), pe = pick(0, 2);
    const std::string mode = modes[pick(0, 3)];
    std::vector<ir::Attribute> attrs = {GraphBuilder::attr("strides", std::vector<int64_t>{s}),
                                        GraphBuilder::attr("dilations", std::vector<int64_t>{d}),
                                        GraphBuilder::attr("auto_pad", mode)};
    if (mode == "NOTSET") attrs.push_back(GraphBuilder::attr("pads", std::vector<int64_t>{pb, pe}));
    if (transpose && pick(0, 1))
      attrs.push_back(GraphBuilder::attr("output_padding", std::vector<int64_t>{pick(0, s - 1)}));
    std::string inferred;
    try {
      inferred = infer_node(op, 13, {f32({dim(1), dim(2), dim(in)}), f32({dim(2), dim(2), dim(k)})}, attrs).front();
    } catch (const Error&) {
      inferred = "error";
    }
    ir::Model m;
    m.ir_version = 8;
    m.opset_imports.push_back({"", 13});
    m.graph = std::make_unique<ir::Graph>("g");
    GraphBuilder b(*m.graph);
    ir::Value* x = b.input("x", DType::kFloat, std::vector<int64_t>{1, 2, in});
    ir::Value* w = b.initializer("w", ir::Tensor(DType::kFloat, {2, 2, k}));
    m.graph->outputs.push_back(b.op(op, {x, w}, attrs));
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
