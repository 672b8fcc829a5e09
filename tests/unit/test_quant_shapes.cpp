// Shape and type rules of the quantization family: the output element types (zero point,
// output_dtype, uint8 default, scale type, int32 accumulators, y_zero_point), shapes through
// QLinearConv/ConvInteger/QLinearMatMul/MatMulInteger, and errors on scales that do not fit.
#include <catch2/catch.hpp>

#include "support/shape_cases.h"

using namespace scalec;
using namespace scalec::test;
using Catch::Matchers::Contains;
using ir::DType;

namespace {

ShapeInput scalar(DType t) { return typed(t, {}); }

}  // namespace

TEST_CASE("QuantizeLinear output type: zero point, output_dtype or uint8", "[shapes]") {
  const ShapeInput x = typed(DType::kFloat, {"N", 3});
  const ShapeInput scale = scalar(DType::kFloat);
  CHECK(infer1("QuantizeLinear", {x, scale}, {}, 10) == "uint8[N, 3]");
  CHECK(infer1("QuantizeLinear", {x, scale, scalar(DType::kInt8)}, {}, 13) == "int8[N, 3]");
  CHECK(infer1("QuantizeLinear", {x, scale, scalar(DType::kFloat8E4M3FN)}, {}, 19) == "float8e4m3fn[N, 3]");
  CHECK(infer1("QuantizeLinear", {x, scale}, {attr_i("output_dtype", 22)}, 21) == "int4[N, 3]");
  CHECK(infer1("QuantizeLinear", {x, scale, typed(DType::kUndefined, {})}, {attr_i("output_dtype", 3)}, 21) ==
        "int8[N, 3]");
  CHECK_THROWS_WITH(infer1("QuantizeLinear", {x, scale, scalar(DType::kUInt8)}, {attr_i("output_dtype", 3)}, 21),
                    Contains("output_dtype int8 differs from the zero point's type uint8"));
  // output_dtype is not read before opset 21.
  CHECK(infer1("QuantizeLinear", {x, scale}, {attr_i("output_dtype", 3)}, 19) == "uint8[N, 3]");
}

TEST_CASE("Quantize/DequantizeLinear check scale layouts where shapes are known", "[shapes]") {
  const ShapeInput x = typed(DType::kFloat, {2, 3, 4});
  CHECK(infer1("QuantizeLinear", {x, typed(DType::kFloat, {3}), typed(DType::kInt8, {3})}, {}, 13) == "int8[2, 3, 4]");
  CHECK_THROWS_WITH(infer1("QuantizeLinear", {x, typed(DType::kFloat, {4})}, {}, 13),
                    Contains("[QuantizeLinear node") && Contains("per-axis scale has 4 elements"));
  CHECK_THROWS_WITH(infer1("QuantizeLinear", {x, typed(DType::kFloat, {3})}, {}, 10),
                    Contains("scale must be a scalar"));
  CHECK_THROWS_WITH(infer1("DequantizeLinear",
                           {typed(DType::kInt8, {2, 3}), typed(DType::kFloat, {3}), typed(DType::kInt8, {2})}, {}, 13),
                    Contains("zero point shape [2] differs from scale shape [3]"));
  // Blocked (opset 21): scale [2, 3, 2] fits x [2, 3, 4] with block_size 2 on axis 2.
  CHECK(infer1("QuantizeLinear", {x, typed(DType::kFloat, {2, 3, 2}), typed(DType::kInt4, {2, 3, 2})},
               {attr_i("axis", 2), attr_i("block_size", 2)}, 21) == "int4[2, 3, 4]");
  // A symbolic axis cannot be checked: no error.
  CHECK(infer1("QuantizeLinear", {typed(DType::kFloat, {"N", "C"}), typed(DType::kFloat, {3})}, {}, 13) ==
        "uint8[N, C]");
}

TEST_CASE("DequantizeLinear gives the scale's type", "[shapes]") {
  const ShapeInput x = typed(DType::kInt8, {"N", 3});
  CHECK(infer1("DequantizeLinear", {x, scalar(DType::kFloat), scalar(DType::kInt8)}, {}, 10) == "float[N, 3]");
  CHECK(infer1("DequantizeLinear", {typed(DType::kInt32, {5}), scalar(DType::kFloat)}, {}, 13) == "float[5]");
  CHECK(infer1("DequantizeLinear", {x, scalar(DType::kFloat16)}, {}, 19) == "float16[N, 3]");
  CHECK(infer1("DequantizeLinear", {typed(DType::kUInt4, {4}), scalar(DType::kBFloat16)}, {}, 21) == "bfloat16[4]");
}

TEST_CASE("DynamicQuantizeLinear has three outputs", "[shapes]") {
  const std::vector<std::string> types =
      infer_node("DynamicQuantizeLinear", {typed(DType::kFloat, {"N", 4})}, {}, 11, 3);
  CHECK(types == std::vector<std::string>{"uint8[N, 4]", "float[]", "uint8[]"});
}

TEST_CASE("MatMulInteger and QLinearMatMul", "[shapes]") {
  const ShapeInput a = typed(DType::kUInt8, {"B", "S", 4});
  const ShapeInput b = typed(DType::kInt8, {4, 3});
  CHECK(infer1("MatMulInteger", {a, b}, {}, 10) == "int32[B, S, 3]");
  CHECK(infer1("MatMulInteger", {typed(DType::kUInt8, {4}), b, scalar(DType::kUInt8), scalar(DType::kInt8)}, {}, 10) ==
        "int32[3]");
  CHECK_THROWS_WITH(infer1("MatMulInteger", {a, typed(DType::kInt8, {5, 3})}, {}, 10), Contains("K = 4 vs 5"));
  const ShapeInput f = scalar(DType::kFloat);
  CHECK(infer1("QLinearMatMul", {a, f, scalar(DType::kUInt8), b, f, scalar(DType::kInt8), f, scalar(DType::kInt8)}, {},
               10) == "int8[B, S, 3]");
  CHECK(infer1("QLinearMatMul", {a, f, scalar(DType::kUInt8), b, f, scalar(DType::kInt8), f, scalar(DType::kUInt8)}, {},
               21) == "uint8[B, S, 3]");
}

TEST_CASE("ConvInteger and QLinearConv", "[shapes]") {
  const ShapeInput x = typed(DType::kUInt8, {"N", 4, 5, 5});
  const ShapeInput w = typed(DType::kInt8, {6, 2, 3, 3});
  const ir::Attribute group = attr_i("group", 2);
  CHECK(infer1("ConvInteger", {x, w}, {group}, 10) == "int32[N, 6, 3, 3]");
  CHECK(infer1("ConvInteger", {x, w, scalar(DType::kUInt8)},
               {group, attr_s("auto_pad", "SAME_UPPER"), attr_ints("strides", {2, 2})}, 10) == "int32[N, 6, 3, 3]");
  CHECK_THROWS_WITH(infer1("ConvInteger", {x, w}, {}, 10), Contains("X has 4 channels but W"));
  const ShapeInput f = scalar(DType::kFloat);
  const ShapeInput bias = typed(DType::kInt32, {6});
  CHECK(infer1("QLinearConv", {x, f, scalar(DType::kUInt8), w, f, scalar(DType::kInt8), f, scalar(DType::kUInt8), bias},
               {group, attr_ints("pads", {1, 1, 1, 1})}, 10) == "uint8[N, 6, 5, 5]");
  CHECK(infer1("QLinearConv", {typed(DType::kInt8, {1, 4, 5, 5}), f, omitted(), w, f, omitted(), f, omitted()}, {group}, 10) ==
        "int8[1, 6, 3, 3]");
  CHECK_THROWS_WITH(infer1("QLinearConv",
                           {x, f, scalar(DType::kUInt8), w, f, scalar(DType::kInt8), f, scalar(DType::kUInt8),
                            typed(DType::kInt32, {4})},
                           {group}, 10),
                    Contains("B int32[4] must have shape [6]"));
}
