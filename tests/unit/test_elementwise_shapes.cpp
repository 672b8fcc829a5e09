// Shape and type rules of the elementwise and activation families (kernels/ops/elementwise_shapes.cpp,
// activation_shapes.cpp): broadcasting with symbolic dims, legacy broadcast attributes, element
// types of comparisons, logical ops and casts, and errors on inputs that contradict the op.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/error.h"
#include "support/shape_cases.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;

TEST_CASE("shapes: every elementwise and activation op version has a rule", "[shapes]") {
  check_every_version_has_rule({"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Equal", "Less", "Greater", "LessOrEqual",
                                "GreaterOrEqual", "And", "Or", "Xor", "Not", "Sum", "Mean", "Max", "Min", "Where",
                                "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Sigmoid", "Tanh",
                                "HardSigmoid", "HardSwish", "Mish", "ThresholdedRelu", "Erf", "Gelu", "PRelu", "Clip",
                                "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round", "Sign",
                                "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
                                "IsNaN", "IsInf", "Cast", "CastLike"});
}

TEST_CASE("shapes: binary ops broadcast and keep symbolic dims", "[shapes]") {
  CHECK(infer1("Add", {typed(F, {"N", 3, 1}), typed(F, {4})}) == "float[N, 3, 4]");
  CHECK(infer1("Mul", {typed(F, {"N", 1}), typed(F, {"N", 5})}) == "float[N, 5]");
  CHECK(infer1("Sub", {typed(F, {"N"}), typed(F, {"M"})}) == "float[?]");  // either could be 1
  CHECK(infer1("Div", {typed(F, {"?", 3}), typed(F, {7, 1})}) == "float[7, 3]");
  CHECK(infer1("Mod", {typed(I64, {2, 3}), typed(I64, {})}, {}, 13) == "int64[2, 3]");
  CHECK(infer1("Add", {any_rank(F), typed(F, {3})}) == "float[...]");
  // Pow keeps the base's type; the exponent may differ from opset 12.
  CHECK(infer1("Pow", {typed(F, {"N", 2}), typed(I64, {2})}, {}, 15) == "float[N, 2]");
}

TEST_CASE("shapes: binary ops reject shapes and types that do not fit", "[shapes]") {
  CHECK_THROWS_WITH(infer1("Add", {typed(F, {2, 3}), typed(F, {4})}), Catch::Contains("cannot be broadcast"));
  CHECK_THROWS_WITH(infer1("Add", {typed(F, {2}), typed(I64, {2})}), Catch::Contains("input types differ"));
  CHECK_THROWS_WITH(infer1("Less", {typed(F, {2}), typed(DType::kDouble, {2})}), Catch::Contains("input types differ"));
  CHECK_THROWS_WITH(infer1("And", {typed(F, {2}), typed(B, {2})}), Catch::Contains("must be bool"));
  CHECK_THROWS_AS(infer1("Where", {typed(F, {2}), typed(F, {2}), typed(F, {2})}), Error);
}

TEST_CASE("shapes: comparisons and logical ops give bool", "[shapes]") {
  CHECK(infer1("Equal", {typed(I64, {"N", 3}), typed(I64, {3})}) == "bool[N, 3]");
  CHECK(infer1("GreaterOrEqual", {typed(F, {1, 4}), typed(F, {5, 1})}) == "bool[5, 4]");
  CHECK(infer1("Xor", {typed(B, {"N"}), typed(B, {1})}) == "bool[N]");
  CHECK(infer1("Not", {typed(B, {"N", 2})}) == "bool[N, 2]");
}

TEST_CASE("shapes: opsets 1-6 follow the broadcast and axis attributes", "[shapes]") {
  // broadcast=1: B lines up with A at `axis` (default: as a suffix); the output is A's shape.
  CHECK(infer1("Add", {typed(F, {2, 3, 4, 5}), typed(F, {3, 4})}, {attr_i("broadcast", 1), attr_i("axis", 1)}, 6) ==
        "float[2, 3, 4, 5]");
  CHECK(infer1("Mul", {typed(F, {"N", 3, 4, 5}), typed(F, {5})}, {attr_i("broadcast", 1)}, 6) == "float[N, 3, 4, 5]");
  CHECK(infer1("Greater", {typed(F, {2, 3}), typed(F, {2})}, {attr_i("broadcast", 1), attr_i("axis", 0)}, 1) ==
        "bool[2, 3]");
  CHECK_THROWS_WITH(infer1("Add", {typed(F, {2, 3}), typed(F, {4})}, {attr_i("broadcast", 1), attr_i("axis", 0)}, 6),
                    Catch::Contains("cannot be broadcast"));
  // broadcast=0: one shape, each dim from whichever input knows it.
  CHECK(infer1("Sub", {typed(F, {"N", 3}), typed(F, {2, "?"})}, {}, 6) == "float[2, 3]");
  CHECK_THROWS_WITH(infer1("Add", {typed(F, {2, 3}), typed(F, {3})}, {}, 6), Catch::Contains("broadcast=0"));
  CHECK_THROWS_WITH(infer1("Add", {typed(F, {2, 3}), typed(F, {2, 4})}, {}, 6), Catch::Contains("broadcast=0"));
  // From opset 7 the same inputs broadcast numpy-style.
  CHECK(infer1("Add", {typed(F, {2, 3}), typed(F, {3})}, {}, 7) == "float[2, 3]");
}

TEST_CASE("shapes: Sum, Mean, Max, Min and Where broadcast all their inputs", "[shapes]") {
  CHECK(infer1("Sum", {typed(F, {"N", 1}), typed(F, {1, 4}), typed(F, {4})}) == "float[N, 4]");
  CHECK(infer1("Max", {typed(I64, {3})}) == "int64[3]");
  CHECK_THROWS_WITH(infer1("Mean", {typed(F, {3}), typed(F, {2})}), Catch::Contains("cannot be broadcast"));
  CHECK_THROWS_WITH(infer1("Min", {typed(F, {3}), typed(I64, {3})}), Catch::Contains("input types differ"));
  CHECK(infer1("Where", {typed(B, {"N", 1}), typed(F, {1, 5}), typed(F, {5})}) == "float[N, 5]");
  CHECK(infer1("Where", {typed(B, {2, 1, 1}), typed(I64, {3, 1}), typed(I64, {4})}) == "int64[2, 3, 4]");
}

TEST_CASE("shapes: pointwise activations keep type and shape", "[shapes]") {
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Sqrt", "Abs", "Neg", "Floor", "Softplus", "HardSwish"}) {
    INFO(op);
    CHECK(infer1(op, {typed(F, {"N", 3, "?"})}, {}, 17) == "float[N, 3, ?]");
  }
  CHECK(infer1("Gelu", {typed(F, {"B", "S", 64})}, {}, 20) == "float[B, S, 64]");
  CHECK(infer1("Round", {any_rank(DType::kDouble)}, {}, 11) == "double[...]");
  CHECK(infer1("IsNaN", {typed(F, {"N", 2})}, {}, 13) == "bool[N, 2]");
  CHECK(infer1("IsInf", {typed(DType::kDouble, {4})}, {attr_i("detect_negative", 0)}, 10) == "bool[4]");
}

TEST_CASE("shapes: Cast and CastLike change only the element type", "[shapes]") {
  CHECK(infer1("Cast", {typed(F, {"N", 3})}, {attr_i("to", 7)}, 13) == "int64[N, 3]");
  CHECK(infer1("Cast", {typed(I64, {2})}, {attr_s("to", "FLOAT16")}, 5) == "float16[2]");
  CHECK_THROWS_WITH(infer1("Cast", {typed(F, {2})}, {attr_i("to", 999)}, 13), Catch::Contains("not an ONNX element type"));
  CHECK_THROWS_WITH(infer1("Cast", {typed(F, {2})}, {}, 13), Catch::Contains("'to' is required"));
  CHECK(infer1("CastLike", {typed(F, {"N"}), typed(DType::kFloat16, {})}, {}, 15) == "float16[N]");
}

TEST_CASE("shapes: PRelu's slope broadcasts to X", "[shapes]") {
  CHECK(infer1("PRelu", {typed(F, {"N", 3, 4, 4}), typed(F, {3, 1, 1})}, {}, 16) == "float[N, 3, 4, 4]");
  CHECK(infer1("PRelu", {typed(F, {"N", 3, "?"}), typed(F, {4})}, {}, 16) == "float[N, 3, 4]");
  CHECK_THROWS_WITH(infer1("PRelu", {typed(F, {"N", 3}), typed(F, {5})}, {}, 16), Catch::Contains("cannot be broadcast"));
  CHECK_THROWS_WITH(infer1("PRelu", {typed(F, {2, 1}), typed(F, {5})}, {}, 16), Catch::Contains("does not broadcast"));
  CHECK_THROWS_WITH(infer1("PRelu", {typed(F, {3}), typed(F, {2, 3})}, {}, 16), Catch::Contains("does not broadcast"));
  CHECK_THROWS_WITH(infer1("PRelu", {typed(F, {3}), typed(I64, {3})}, {}, 16), Catch::Contains("slope is int64"));
  // Opsets 1-6: a 1-D slope of size C is per channel.
  CHECK(infer1("PRelu", {typed(F, {2, 3, 4}), typed(F, {3})}, {}, 6) == "float[2, 3, 4]");
}

TEST_CASE("shapes: Clip's bounds are scalars of X's type", "[shapes]") {
  CHECK(infer1("Clip", {typed(F, {"N", 4})}, {}, 6) == "float[N, 4]");
  CHECK(infer1("Clip", {typed(F, {"N", 4}), omitted(), typed(F, {})}, {}, 13) == "float[N, 4]");
  CHECK(infer1("Clip", {typed(I64, {2}), typed(I64, {1}), typed(I64, {})}, {}, 12) == "int64[2]");
  CHECK_THROWS_WITH(infer1("Clip", {typed(F, {2}), typed(F, {2})}, {}, 13), Catch::Contains("min must be a scalar"));
  CHECK_THROWS_WITH(infer1("Clip", {typed(F, {2}), omitted(), typed(DType::kDouble, {})}, {}, 13),
                    Catch::Contains("max is double"));
}
