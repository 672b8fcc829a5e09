// Shape and type rules of the tensor family (kernels/ops/tensor_shapes.cpp,
// tensor_index_shapes.cpp): symbolic dims kept where an op passes them through, data-dependent
// shapes with and without known arguments, opset variants, errors on inconsistent inputs, and a
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain folded to an exact shape.
#include <limits>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "support/shape_cases.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;
using ir::Tensor;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

ShapeInput scalar_f(float v) { return known(Tensor::from_floats({}, std::vector<float>{v})); }
ShapeInput bools(const std::vector<uint8_t>& v) {
  Tensor t(DType::kBool, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.mutable_values<uint8_t>()[i] = v[i];
  return known(t);
}

}  // namespace

TEST_CASE("Identity, Dropout, Size and EyeLike keep or derive the input's type", "[shapes]") {
  CHECK(infer1("Identity", {typed(F, {"N", 3})}) == "float[N, 3]");
  CHECK(infer_node("Dropout", {typed(F, {"N", 3})}, {}, 13, 2) == Strings{"float[N, 3]", "bool[N, 3]"});
  CHECK(infer_node("Dropout", {typed(F, {"N", 3})}, {}, 7, 2) == Strings{"float[N, 3]", "float[N, 3]"});
  CHECK(infer1("Size", {typed(F, {"N", 3})}) == "int64[]");
  CHECK(infer1("EyeLike", {typed(F, {"N", 4})}, {attr_i("dtype", 7)}) == "int64[N, 4]");
  CHECK(infer1("EyeLike", {typed(DType::kInt32, {2, 4})}) == "int32[2, 4]");
  CHECK_THROWS_WITH(infer1("EyeLike", {typed(F, {2, 3, 4})}), Catch::Contains("2-D"));
}

TEST_CASE("Constant gives the type of every value attribute form", "[shapes]") {
  CHECK(infer1("Constant", {}, {attr_t("value", Tensor::from_floats({2, 3}, std::vector<float>(6)))}) == "float[2, 3]");
  CHECK(infer1("Constant", {}, {attr_ints("value_ints", {1, 2, 3})}) == "int64[3]");
  CHECK(infer1("Constant", {}, {attr_i("value_int", 4)}) == "int64[]");
  CHECK(infer1("Constant", {}, {attr_f("value_float", 1.5f)}) == "float[]");
  CHECK(infer1("Constant", {}, {attr_s("value_string", "a")}) == "string[]");
}

TEST_CASE("ConstantOfShape reads its shape input when known", "[shapes]") {
  CHECK(infer1("ConstantOfShape", {known_ints({2, 3})}) == "float[2, 3]");
  CHECK(infer1("ConstantOfShape", {known_ints({})}) == "float[]");
  CHECK(infer1("ConstantOfShape", {known_ints({4})}, {attr_t("value", Tensor::from_int64s({1}, std::vector<int64_t>{7}))}) ==
        "int64[4]");
  CHECK(infer1("ConstantOfShape", {typed(I64, {3})}) == "float[?, ?, ?]");
  CHECK(infer1("ConstantOfShape", {typed(I64, {"K"})}) == "float[...]");
  CHECK_THROWS_WITH(infer1("ConstantOfShape", {known_ints({2, -1})}), Catch::Contains("negative"));
}

TEST_CASE("Shape counts dims, with start and end from opset 15", "[shapes]") {
  CHECK(infer1("Shape", {typed(F, {"N", 3, 4})}) == "int64[3]");
  CHECK(infer1("Shape", {typed(F, {"N", 3, 4})}, {attr_i("start", 1)}, 15) == "int64[2]");
  CHECK(infer1("Shape", {typed(F, {"N", 3, 4})}, {attr_i("start", -2), attr_i("end", -1)}, 15) == "int64[1]");
  CHECK(infer1("Shape", {typed(F, {"N", 3, 4})}, {attr_i("start", 2), attr_i("end", 1)}, 15) == "int64[0]");
  CHECK(infer1("Shape", {typed(F, {"N", 3, 4})}, {attr_i("start", 1)}, 13) == "int64[3]");  // no start before 15
  CHECK(infer1("Shape", {any_rank(F)}) == "int64[?]");
}

TEST_CASE("Range has a known length only when its three scalars are known", "[shapes]") {
  CHECK(infer1("Range", {known_scalar(0), known_scalar(10), known_scalar(3)}) == "int64[4]");
  CHECK(infer1("Range", {scalar_f(1), scalar_f(0), scalar_f(-0.25f)}) == "float[4]");
  CHECK(infer1("Range", {typed(F, {}), scalar_f(1), scalar_f(1)}) == "float[?]");
  CHECK_THROWS_WITH(infer1("Range", {known_scalar(0), known_scalar(10), known_scalar(0)}),
                    Catch::Contains("delta is zero"));
}

TEST_CASE("Flatten multiplies dims around the axis and keeps a lone symbol", "[shapes]") {
  CHECK(infer1("Flatten", {typed(F, {"N", 3, 4})}) == "float[N, 12]");
  CHECK(infer1("Flatten", {typed(F, {"N", 3, 4})}, {attr_i("axis", 0)}) == "float[1, ?]");
  CHECK(infer1("Flatten", {typed(F, {2, 3, 4})}, {attr_i("axis", 0)}) == "float[1, 24]");
  CHECK(infer1("Flatten", {typed(F, {"N", 3, 4})}, {attr_i("axis", -1)}, 13) == "float[?, 4]");
  CHECK(infer1("Flatten", {typed(F, {2, 3, 1})}, {attr_i("axis", 3)}) == "float[6, 1]");
  CHECK(infer1("Flatten", {any_rank(F)}) == "float[?, ?]");
  CHECK_THROWS_WITH(infer1("Flatten", {typed(F, {2, 3})}, {attr_i("axis", -1)}, 9), Catch::Contains("out of range"));
}

TEST_CASE("Reshape resolves 0 and -1, keeping symbols a 0 copies", "[shapes]") {
  CHECK(infer1("Reshape", {typed(F, {"N", 3, 4}), known_ints({0, -1})}) == "float[N, 12]");
  CHECK(infer1("Reshape", {typed(F, {"N", 3, 4}), known_ints({0, 2, -1, 3})}) == "float[N, 2, 2, 3]");
  CHECK(infer1("Reshape", {typed(F, {2, 3, 4}), known_ints({-1, 4})}) == "float[6, 4]");
  CHECK(infer1("Reshape", {typed(F, {"N", 12}), known_ints({-1, 3})}) == "float[?, 3]");
  CHECK(infer1("Reshape", {typed(F, {"N", 12}), known_ints({4, 3, 2})}) == "float[4, 3, 2]");
  CHECK(infer1("Reshape", {typed(F, {0, 3}), known_ints({3, 0})}, {attr_i("allowzero", 1)}, 14) == "float[3, 0]");
  CHECK(infer1("Reshape", {typed(F, {2, 3})}, {attr_ints("shape", {3, -1})}, 1) == "float[3, 2]");
  CHECK(infer1("Reshape", {typed(F, {2, 3}), typed(I64, {3})}) == "float[?, ?, ?]");
  CHECK(infer1("Reshape", {any_rank(F), known_ints({0, 4})}) == "float[?, 4]");
  CHECK_THROWS_WITH(infer1("Reshape", {typed(F, {2, 3, 4}), known_ints({5, 5})}), Catch::Contains("cannot reshape"));
  // A target whose product overflows int64 (found by scalec_fuzz_model; was signed overflow).
  CHECK_THROWS_WITH(infer1("Reshape", {typed(F, {2, 3, 4}), known_ints({16, int64_t{1} << 60, -1})}),
                    Catch::Contains("more elements than int64 counts"));
  CHECK_THROWS_WITH(infer1("Reshape", {typed(F, {2, 3, 4}), known_ints({5, -1})}), Catch::Contains("cannot infer the -1"));
  CHECK_THROWS_WITH(infer1("Reshape", {typed(F, {2}), known_ints({-1, -1})}), Catch::Contains("more than one -1"));
}

TEST_CASE("Squeeze and Unsqueeze: axes attribute before 13, input from 13", "[shapes]") {
  CHECK(infer1("Squeeze", {typed(F, {"N", 1, 3})}, {attr_ints("axes", {1})}, 11) == "float[N, 3]");
  CHECK(infer1("Squeeze", {typed(F, {"N", 1, 3}), known_ints({-2})}, {}, 13) == "float[N, 3]");
  CHECK(infer1("Squeeze", {typed(F, {2, 1, 3, 1})}, {}, 13) == "float[2, 3]");
  CHECK(infer1("Squeeze", {typed(F, {"N", 1, 3})}, {}, 13) == "float[...]");  // N may be 1
  CHECK(infer1("Squeeze", {typed(F, {"N", 1, 3}), typed(I64, {1})}, {}, 13) == "float[?, ?]");
  CHECK_THROWS_WITH(infer1("Squeeze", {typed(F, {"N", 2, 3}), known_ints({1})}, {}, 13), Catch::Contains("cannot squeeze"));
  CHECK(infer1("Unsqueeze", {typed(F, {"N", 3}), known_ints({0, -1})}, {}, 13) == "float[1, N, 3, 1]");
  CHECK(infer1("Unsqueeze", {typed(F, {"N", 3})}, {attr_ints("axes", {1})}, 11) == "float[N, 1, 3]");
  CHECK(infer1("Unsqueeze", {typed(F, {"N", 3}), typed(I64, {2})}, {}, 13) == "float[?, ?, ?, ?]");
  CHECK_THROWS_WITH(infer1("Unsqueeze", {typed(F, {3}), known_ints({0, 0})}, {}, 13), Catch::Contains("repeated"));
}

TEST_CASE("Transpose permutes dims", "[shapes]") {
  CHECK(infer1("Transpose", {typed(F, {"N", 3, 4})}) == "float[4, 3, N]");
  CHECK(infer1("Transpose", {typed(F, {"N", 3, 4})}, {attr_ints("perm", {0, 2, 1})}) == "float[N, 4, 3]");
  CHECK(infer1("Transpose", {any_rank(F)}, {attr_ints("perm", {1, 0})}) == "float[?, ?]");
  CHECK_THROWS_WITH(infer1("Transpose", {typed(F, {2, 3})}, {attr_ints("perm", {0, 0})}), Catch::Contains("not a permutation"));
}

TEST_CASE("Expand and Tile read their shape arguments", "[shapes]") {
  CHECK(infer1("Expand", {typed(F, {3, 1}), known_ints({2, 1, 4})}) == "float[2, 3, 4]");
  CHECK(infer1("Expand", {typed(F, {"N", 1}), known_ints({1, 5})}) == "float[N, 5]");
  CHECK(infer1("Expand", {typed(F, {3, 1}), typed(I64, {3})}) == "float[?, 3, ?]");
  CHECK_THROWS_WITH(infer1("Expand", {typed(F, {3, 2}), known_ints({4, 2})}), Catch::Contains("broadcast"));
  CHECK(infer1("Tile", {typed(F, {"N", 3}), known_ints({1, 2})}) == "float[N, 6]");
  CHECK(infer1("Tile", {typed(F, {"N", 3}), known_ints({0, 2})}) == "float[0, 6]");
  CHECK(infer1("Tile", {typed(F, {"N", 3}), typed(I64, {2})}) == "float[?, ?]");
  CHECK(infer1("Tile", {typed(F, {"N", 3}), known_scalar(4), known_scalar(1)}, {}, 1) == "float[N, 12]");
  CHECK(infer1("Tile", {typed(F, {"N", 3}), typed(I64, {}), known_scalar(1)}, {}, 1) == "float[N, ?]");
  CHECK_THROWS_WITH(infer1("Tile", {typed(F, {2, 3}), known_ints({2})}), Catch::Contains("repeats has 1 entries"));
}

TEST_CASE("DepthToSpace and SpaceToDepth move blocks between C and H, W", "[shapes]") {
  CHECK(infer1("DepthToSpace", {typed(F, {"N", 8, 2, 3})}, {attr_i("blocksize", 2)}) == "float[N, 2, 4, 6]");
  CHECK(infer1("SpaceToDepth", {typed(F, {"N", 2, 4, "W"})}, {attr_i("blocksize", 2)}) == "float[N, 8, 2, ?]");
  CHECK(infer1("SpaceToDepth", {any_rank(F)}, {attr_i("blocksize", 2)}) == "float[?, ?, ?, ?]");
  CHECK_THROWS_WITH(infer1("DepthToSpace", {typed(F, {1, 6, 2, 2})}, {attr_i("blocksize", 2)}), Catch::Contains("multiple"));
  CHECK_THROWS_WITH(infer1("SpaceToDepth", {typed(F, {1, 6, 2})}, {attr_i("blocksize", 2)}), Catch::Contains("4-D"));
}

TEST_CASE("Concat sums the axis and checks the other dims", "[shapes]") {
  CHECK(infer1("Concat", {typed(F, {"N", 3}), typed(F, {"N", 5})}, {attr_i("axis", 1)}) == "float[N, 8]");
  CHECK(infer1("Concat", {typed(F, {"N", 3}), typed(F, {4, "C"})}, {attr_i("axis", -1)}) == "float[4, ?]");
  CHECK(infer1("Concat", {typed(F, {2, 3}), any_rank(F)}, {attr_i("axis", 0)}) == "float[?, 3]");
  CHECK(infer1("Concat", {typed(F, {"N", 3})}, {attr_i("axis", 0)}) == "float[N, 3]");
  CHECK_THROWS_WITH(infer1("Concat", {typed(F, {2, 3}), typed(F, {4, 3})}, {attr_i("axis", 1)}), Catch::Contains("does not match"));
  CHECK_THROWS_WITH(infer1("Concat", {typed(F, {2, 3}), typed(F, {2})}, {attr_i("axis", 0)}), Catch::Contains("does not match"));
  CHECK_THROWS_WITH(infer1("Concat", {typed(F, {2, 3})}), Catch::Contains("axis is required"));
}

TEST_CASE("Split: sizes from attribute, input or equal parts, by opset", "[shapes]") {
  CHECK(infer_node("Split", {typed(F, {"N", 6}), known_ints({2, 4})}, {attr_i("axis", 1)}, 13, 2) ==
        Strings{"float[N, 2]", "float[N, 4]"});
  CHECK(infer_node("Split", {typed(F, {"N", 6})}, {attr_i("axis", 1), attr_ints("split", {1, 5})}, 11, 2) ==
        Strings{"float[N, 1]", "float[N, 5]"});
  CHECK(infer_node("Split", {typed(F, {6, 4})}, {}, 13, 3) == Strings{"float[2, 4]", "float[2, 4]", "float[2, 4]"});
  CHECK(infer_node("Split", {typed(F, {7})}, {attr_i("num_outputs", 3)}, 18, 3) == Strings{"float[3]", "float[3]", "float[1]"});
  CHECK(infer_node("Split", {typed(F, {"N", 4})}, {}, 13, 2) == Strings{"float[?, 4]", "float[?, 4]"});
  CHECK(infer_node("Split", {typed(F, {"N", 4}), known_ints({1, 2})}, {}, 13, 2) == Strings{"float[1, 4]", "float[2, 4]"});
  CHECK(infer_node("Split", {typed(F, {3, 4}), typed(I64, {2})}, {attr_i("axis", 1)}, 13, 2) == Strings{"float[3, ?]", "float[3, ?]"});
  CHECK_THROWS_WITH(infer_node("Split", {typed(F, {6}), known_ints({2, 3})}, {}, 13, 2), Catch::Contains("sum to 5"));
}

TEST_CASE("Slice: attributes before 10, inputs after; clamped ends, negative steps", "[shapes]") {
  CHECK(infer1("Slice", {typed(F, {"N", 10}), known_ints({1}), known_ints({kMax}), known_ints({1}), known_ints({2})}) ==
        "float[N, 5]");
  CHECK(infer1("Slice", {typed(F, {"N", 10}), known_ints({0}), known_ints({kMax}), known_ints({0})}) == "float[N, 10]");
  CHECK(infer1("Slice", {typed(F, {"N", 10}), known_ints({1}), known_ints({kMax}), known_ints({0})}) == "float[?, 10]");
  CHECK(infer1("Slice", {typed(F, {4, 10}), known_ints({-1, 8}), known_ints({-kMax, 1}), omitted(), known_ints({-1, -3})}) ==
        "float[4, 3]");
  CHECK(infer1("Slice", {typed(F, {4, 10}), known_ints({2}), known_ints({100})}) == "float[2, 10]");
  CHECK(infer1("Slice", {typed(F, {4, 10})}, {attr_ints("starts", {1}), attr_ints("ends", {-1}), attr_ints("axes", {1})}, 9) ==
        "float[4, 8]");
  CHECK(infer1("Slice", {typed(F, {4, 10, 3}), typed(I64, {2}), typed(I64, {2})}) == "float[?, ?, 3]");
  CHECK(infer1("Slice", {typed(F, {4, 10, 3}), typed(I64, {1}), typed(I64, {1}), known_ints({-1})}) == "float[4, 10, ?]");
  CHECK(infer1("Slice", {typed(F, {4, 10}), typed(I64, {1}), typed(I64, {1}), typed(I64, {1})}) == "float[?, ?]");
  CHECK_THROWS_WITH(infer1("Slice", {typed(F, {4}), known_ints({0}), known_ints({2}), omitted(), known_ints({0})}),
                    Catch::Contains("steps must not be zero"));
  CHECK_THROWS_WITH(infer1("Slice", {typed(F, {4}), known_ints({0, 1}), known_ints({2})}), Catch::Contains("differ in length"));
}

TEST_CASE("Pad: pads attribute before 11, input after, axes from 18", "[shapes]") {
  CHECK(infer1("Pad", {typed(F, {"N", 3}), known_ints({0, 1, 0, 2})}, {}, 13) == "float[N, 6]");
  CHECK(infer1("Pad", {typed(F, {"N", 3}), known_ints({1, -1, 0, 0})}, {}, 13) == "float[?, 2]");
  CHECK(infer1("Pad", {typed(F, {"N", 3})}, {attr_ints("pads", {0, 2, 0, 2})}, 2) == "float[N, 7]");
  CHECK(infer1("Pad", {typed(F, {"N", 3})}, {attr_ints("paddings", {0, 2, 0, 2})}, 1) == "float[N, 7]");
  CHECK(infer1("Pad", {typed(F, {"N", 3, 4}), known_ints({1, 1}), omitted(), known_ints({-1})}, {}, 18) == "float[N, 3, 6]");
  CHECK(infer1("Pad", {typed(F, {"N", 3}), typed(I64, {4})}, {}, 13) == "float[?, ?]");
  CHECK(infer1("Pad", {typed(F, {"N", 3, 4}), typed(I64, {2}), omitted(), known_ints({2})}, {}, 18) == "float[N, 3, ?]");
  CHECK_THROWS_WITH(infer1("Pad", {typed(F, {2, 3}), known_ints({0, -2, 0, -2})}, {}, 13), Catch::Contains("crop more"));
  CHECK_THROWS_WITH(infer1("Pad", {typed(F, {0, 3}), known_ints({1, 0, 0, 0})}, {attr_s("mode", "reflect")}, 13),
                    Catch::Contains("empty axis"));
  CHECK_THROWS_WITH(infer1("Pad", {typed(F, {2, 3}), known_ints({1, 1})}, {}, 13), Catch::Contains("pads has 2 entries"));
}

TEST_CASE("Compress and NonZero: counts known only with the data", "[shapes]") {
  CHECK(infer1("Compress", {typed(F, {"N", 4}), bools({1, 0, 1})}, {attr_i("axis", 1)}) == "float[N, 2]");
  CHECK(infer1("Compress", {typed(F, {"N", 4}), typed(DType::kBool, {3})}, {attr_i("axis", 1)}) == "float[N, ?]");
  CHECK(infer1("Compress", {typed(F, {"N", 4}), bools({1, 1, 0, 1})}) == "float[3]");
  CHECK_THROWS_WITH(infer1("Compress", {typed(F, {"N", 4}), typed(DType::kBool, {3, 1})}), Catch::Contains("1-D"));
  CHECK(infer1("NonZero", {typed(F, {"N", 4})}) == "int64[2, ?]");
  CHECK(infer1("NonZero", {known(Tensor::from_floats({2, 2}, std::vector<float>{0, 1, 2, 0}))}) == "int64[2, 2]");
  CHECK(infer1("NonZero", {any_rank(F)}) == "int64[?, ?]");
}

TEST_CASE("Gather, GatherElements, GatherND and the scatters", "[shapes]") {
  CHECK(infer1("Gather", {typed(F, {"N", 5, 6}), typed(I64, {2, 3})}, {attr_i("axis", 1)}) == "float[N, 2, 3, 6]");
  CHECK(infer1("Gather", {typed(F, {"N", 5}), typed(I64, {})}, {attr_i("axis", -1)}) == "float[N]");
  CHECK(infer1("Gather", {typed(F, {"N", 5}), any_rank(I64)}) == "float[...]");
  CHECK_THROWS_WITH(infer1("Gather", {typed(F, {}), typed(I64, {})}), Catch::Contains("rank 1 or more"));
  CHECK(infer1("GatherElements", {typed(F, {"N", 5}), typed(I64, {"N", 2})}, {attr_i("axis", 1)}) == "float[N, 2]");
  CHECK_THROWS_WITH(infer1("GatherElements", {typed(F, {3, 5}), typed(I64, {3})}), Catch::Contains("differ in rank"));
  CHECK(infer1("GatherND", {typed(F, {"N", 5, 6}), typed(I64, {4, 2})}) == "float[4, 6]");
  CHECK(infer1("GatherND", {typed(F, {2, 5, 6}), typed(I64, {"B", 3, 1})}, {attr_i("batch_dims", 1)}, 13) == "float[2, 3, 6]");
  CHECK(infer1("GatherND", {typed(F, {2, 5}), typed(I64, {3, "K"})}) == "float[...]");
  CHECK_THROWS_WITH(infer1("GatherND", {typed(F, {2, 5}), typed(I64, {3, 3})}), Catch::Contains("do not fit"));
  CHECK(infer1("ScatterElements", {typed(F, {"N", 5}), typed(I64, {"N", 2}), typed(F, {"N", 2})}) == "float[N, 5]");
  CHECK(infer1("Scatter", {typed(F, {"N", 5}), typed(I64, {1, 2}), typed(F, {1, 2})}, {}, 9) == "float[N, 5]");
  CHECK_THROWS_WITH(infer1("ScatterElements", {typed(F, {3, 5}), typed(I64, {1, 2}), typed(F, {1, 3})}), Catch::Contains("differ"));
  CHECK(infer1("ScatterND", {typed(F, {"N", 5}), typed(I64, {2, 1}), typed(F, {2, 5})}) == "float[N, 5]");
}

TEST_CASE("OneHot inserts the depth at axis; Trilu keeps the shape", "[shapes]") {
  CHECK(infer1("OneHot", {typed(I64, {"N", 3}), scalar_f(10), typed(F, {2})}) == "float[N, 3, 10]");
  CHECK(infer1("OneHot", {typed(I64, {"N", 3}), known_scalar(4), typed(I64, {2})}, {attr_i("axis", 0)}) ==
        "int64[4, N, 3]");
  CHECK(infer1("OneHot", {typed(I64, {"N"}), typed(F, {}), typed(F, {2})}) == "float[N, ?]");
  CHECK(infer1("Trilu", {typed(F, {"N", 3, 3})}, {}, 14) == "float[N, 3, 3]");
  CHECK_THROWS_WITH(infer1("Trilu", {typed(F, {3})}, {}, 14), Catch::Contains("rank 2 or more"));
}

TEST_CASE("A Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain folds to an exact shape", "[shapes]") {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", 13}};
  m.graph = std::make_unique<ir::Graph>("main");
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", F, std::vector<int64_t>{2, 3, 4});
  ir::Value* s = b.op("Shape", {x});
  ir::Value* d0 = b.op("Gather", {s, b.initializer("i0", Tensor::from_int64s({}, std::vector<int64_t>{0}))}, {attr_i("axis", 0)});
  ir::Value* u0 = b.op("Unsqueeze", {d0, b.initializer("ax", Tensor::from_int64s({1}, std::vector<int64_t>{0}))});
  ir::Value* cat = b.op("Concat", {u0, b.initializer("rest", Tensor::from_int64s({1}, std::vector<int64_t>{-1}))}, {attr_i("axis", 0)});
  ir::Value* y = b.op("Reshape", {x, cat});
  b.output(y);
  kernels::infer_shapes(m);
  REQUIRE(y->type);
  CHECK(ir::type_to_string(*cat->type) == "int64[2]");
  CHECK(ir::type_to_string(*y->type) == "float[2, 12]");
}
