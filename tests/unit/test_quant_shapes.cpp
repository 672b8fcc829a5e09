// Shape and type rules of the quantization family: the output element types (zero point,
// output_dtype, uint8 default, scale type, int32 accumulators, y_zero_point), shapes through
// QLinearConv/ConvInteger/QLinearMatMul/MatMulInteger, and errors on scales that do not fit.
#include <catch2/catch.hpp>

#include "ir/error.h"
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

NodeInput typed(DType t, std::vector<ir::Dim> dims) { return NodeInput::of(t, std::move(dims)); }
NodeInput scalar(DType t) { return NodeInput::of(t, {}); }

}  // namespace

TEST_CASE("QuantizeLinear output type: zero point, output_dtype or uint8", "[shapes]") {
  const NodeInput x = typed(DType::kFloat, {dim("N"), dim(3)});
  const NodeInput scale = scalar(DType::kFloat);
  CHECK(infer_one("QuantizeLinear", 10, {x, scale}) == "uint8[N, 3]");
  CHECK(infer_one("QuantizeLinear", 13, {x, scale, scalar(DType::kInt8)}) == "int8[N, 3]");
  CHECK(infer_one("QuantizeLinear", 19, {x, scale, scalar(DType::kFloat8E4M3FN)}) == "float8e4m3fn[N, 3]");
  CHECK(infer_one("QuantizeLinear", 21, {x, scale}, {GraphBuilder::attr("output_dtype", int64_t{22})}) == "int4[N, 3]");
  CHECK(infer_one("QuantizeLinear", 21, {x, scale, NodeInput::of(DType::kUndefined, {})},
                  {GraphBuilder::attr("output_dtype", int64_t{3})}) == "int8[N, 3]");
  CHECK_THROWS_WITH(infer_one("QuantizeLinear", 21, {x, scale, scalar(DType::kUInt8)},
                              {GraphBuilder::attr("output_dtype", int64_t{3})}),
                    Contains("output_dtype int8 differs from the zero point's type uint8"));
  // output_dtype is not read before opset 21.
  CHECK(infer_one("QuantizeLinear", 19, {x, scale}, {GraphBuilder::attr("output_dtype", int64_t{3})}) == "uint8[N, 3]");
}

TEST_CASE("Quantize/DequantizeLinear check scale layouts where shapes are known", "[shapes]") {
  const NodeInput x = typed(DType::kFloat, {dim(2), dim(3), dim(4)});
  CHECK(infer_one("QuantizeLinear", 13, {x, typed(DType::kFloat, {dim(3)}), typed(DType::kInt8, {dim(3)})}) ==
        "int8[2, 3, 4]");
  CHECK_THROWS_WITH(infer_one("QuantizeLinear", 13, {x, typed(DType::kFloat, {dim(4)})}),
                    Contains("[QuantizeLinear node") && Contains("per-axis scale has 4 elements"));
  CHECK_THROWS_WITH(infer_one("QuantizeLinear", 10, {x, typed(DType::kFloat, {dim(3)})}),
                    Contains("scale must be a scalar"));
  CHECK_THROWS_WITH(
      infer_one("DequantizeLinear", 13,
                {typed(DType::kInt8, {dim(2), dim(3)}), typed(DType::kFloat, {dim(3)}), typed(DType::kInt8, {dim(2)})}),
      Contains("zero point shape [2] differs from scale shape [3]"));
  // Blocked (opset 21): scale [2, 3, 2] fits x [2, 3, 4] with block_size 2 on axis 2.
  CHECK(infer_one("QuantizeLinear", 21,
                  {x, typed(DType::kFloat, {dim(2), dim(3), dim(2)}), typed(DType::kInt4, {dim(2), dim(3), dim(2)})},
                  {GraphBuilder::attr("axis", int64_t{2}), GraphBuilder::attr("block_size", int64_t{2})}) ==
        "int4[2, 3, 4]");
  // A symbolic axis cannot be checked: no error.
  CHECK(infer_one("QuantizeLinear", 13, {typed(DType::kFloat, {dim("N"), dim("C")}), typed(DType::kFloat, {dim(3)})}) ==
        "uint8[N, C]");
}

TEST_CASE("DequantizeLinear gives the scale's type", "[shapes]") {
  const NodeInput x = typed(DType::kInt8, {dim("N"), dim(3)});
  CHECK(infer_one("DequantizeLinear", 10, {x, scalar(DType::kFloat), scalar(DType::kInt8)}) == "float[N, 3]");
  CHECK(infer_one("DequantizeLinear", 13, {typed(DType::kInt32, {dim(5)}), scalar(DType::kFloat)}) == "float[5]");
  CHECK(infer_one("DequantizeLinear", 19, {x, scalar(DType::kFloat16)}) == "float16[N, 3]");
  CHECK(infer_one("DequantizeLinear", 21, {typed(DType::kUInt4, {dim(4)}), scalar(DType::kBFloat16)}) == "bfloat16[4]");
}

TEST_CASE("DynamicQuantizeLinear has three outputs", "[shapes]") {
  const std::vector<std::string> types =
      infer_node("DynamicQuantizeLinear", 11, {typed(DType::kFloat, {dim("N"), dim(4)})}, {}, 3);
  CHECK(types == std::vector<std::string>{"uint8[N, 4]", "float[]", "uint8[]"});
}

TEST_CASE("MatMulInteger and QLinearMatMul", "[shapes]") {
  const NodeInput a = typed(DType::kUInt8, {dim("B"), dim("S"), dim(4)});
  const NodeInput b = typed(DType::kInt8, {dim(4), dim(3)});
  CHECK(infer_one("MatMulInteger", 10, {a, b}) == "int32[B, S, 3]");
  CHECK(infer_one("MatMulInteger", 10,
                  {typed(DType::kUInt8, {dim(4)}), b, scalar(DType::kUInt8), scalar(DType::kInt8)}) == "int32[3]");
  CHECK_THROWS_WITH(infer_one("MatMulInteger", 10, {a, typed(DType::kInt8, {dim(5), dim(3)})}), Contains("K = 4 vs 5"));
  const NodeInput f = scalar(DType::kFloat);
  CHECK(infer_one("QLinearMatMul", 10,
                  {a, f, scalar(DType::kUInt8), b, f, scalar(DType::kInt8), f, scalar(DType::kInt8)}) ==
        "int8[B, S, 3]");
  CHECK(infer_one("QLinearMatMul", 21,
                  {a, f, scalar(DType::kUInt8), b, f, scalar(DType::kInt8), f, scalar(DType::kUInt8)}) ==
        "uint8[B, S, 3]");
}

TEST_CASE("ConvInteger and QLinearConv", "[shapes]") {
  const NodeInput x = typed(DType::kUInt8, {dim("N"), dim(4), dim(5), dim(5)});
  const NodeInput w = typed(DType::kInt8, {dim(6), dim(2), dim(3), dim(3)});
  const ir::Attribute group = GraphBuilder::attr("group", int64_t{2});
  CHECK(infer_one("ConvInteger", 10, {x, w}, {group}) == "int32[N, 6, 3, 3]");
  CHECK(infer_one("ConvInteger", 10, {x, w, scalar(DType::kUInt8)},
                  {group, GraphBuilder::attr("auto_pad", std::string("SAME_UPPER")),
                   GraphBuilder::attr("strides", std::vector<int64_t>{2, 2})}) == "int32[N, 6, 3, 3]");
  CHECK_THROWS_WITH(infer_one("ConvInteger", 10, {x, w}), Contains("X has 4 channels but W"));
  const NodeInput f = scalar(DType::kFloat);
  const NodeInput bias = typed(DType::kInt32, {dim(6)});
  CHECK(infer_one("QLinearConv", 10,
                  {x, f, scalar(DType::kUInt8), w, f, scalar(DType::kInt8), f, scalar(DType::kUInt8), bias},
                  {group, GraphBuilder::attr("pads", std::vector<int64_t>{1, 1, 1, 1})}) == "uint8[N, 6, 5, 5]");
  CHECK(infer_one(
            "QLinearConv", 10,
            {typed(DType::kInt8, {dim(1), dim(4), dim(5), dim(5)}), f, NodeInput::none(), w, f, NodeInput::none(), f},
            {group}) == "int8[1, 6, 3, 3]");
  CHECK_THROWS_WITH(infer_one("QLinearConv", 10,
                              {x, f, scalar(DType::kUInt8), w, f, scalar(DType::kInt8), f, scalar(DType::kUInt8),
                               typed(DType::kInt32, {dim(4)})},
                              {group}),
                    Contains("B int32[4] must have shape [6]"));
}
