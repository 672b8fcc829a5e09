// Shape and type rules of the pool family: MaxPool (with Indices), AveragePool, LpPool (strides,
// pads, auto_pad, dilations, ceil_mode), Global*Pool, MaxUnpool with and without output_shape,
// Resize (scales, sizes, axes, keep_aspect_ratio_policy; known and unknown values) and Upsample,
// and agreement of the pooling rule with the kernel.
#include <catch2/catch.hpp>

#include "support/shape_cases.h"

using namespace scalec;
using namespace scalec::test;
using Catch::Matchers::Contains;
using ir::DType;

TEST_CASE("MaxPool keeps the batch symbol and types Indices as int64", "[shapes]") {
  const std::vector<std::string> types =
      infer_node("MaxPool", {typed(F, {"N", 3, 32, 32})},
                 {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}, 12, 2);
  CHECK(types == std::vector<std::string>{"float[N, 3, 16, 16]", "int64[N, 3, 16, 16]"});
  CHECK(infer1("MaxPool", {typed(F, {1, 1, 5})}, {attr_ints("kernel_shape", {3})}, 1) == "float[1, 1, 3]");
  CHECK(infer1("MaxPool", {typed(DType::kUInt8, {1, 1, 5, 5})},
               {attr_ints("kernel_shape", {3, 3}), attr_ints("dilations", {2, 2})}, 12) == "uint8[1, 1, 1, 1]");
}

TEST_CASE("Pooling ceil_mode, auto_pad and pads", "[shapes]") {
  auto pool = [](const char* op, std::vector<ir::Attribute> attrs) {
    return infer1(op, {typed(F, {"N", 2, 32, 5})}, std::move(attrs), 19);
  };
  CHECK(pool("AveragePool", {attr_ints("kernel_shape", {3, 2}), attr_ints("strides", {2, 2})}) == "float[N, 2, 15, 2]");
  CHECK(pool("AveragePool", {attr_ints("kernel_shape", {3, 2}), attr_ints("strides", {2, 2}),
                             attr_i("ceil_mode", 1)}) == "float[N, 2, 16, 3]");
  // ceil_mode drops a last window that would start in the end pad: 5 + 2 pads, kernel 2, stride 2.
  CHECK(pool("MaxPool", {attr_ints("kernel_shape", {1, 2}), attr_ints("strides", {1, 2}),
                         attr_ints("pads", {0, 0, 0, 2}), attr_i("ceil_mode", 1)}) == "float[N, 2, 32, 3]");
  CHECK(pool("LpPool", {attr_ints("kernel_shape", {3, 3}), attr_s("auto_pad", "SAME_UPPER"),
                        attr_ints("strides", {3, 3})}) == "float[N, 2, 11, 2]");
  CHECK(pool("MaxPool", {attr_ints("kernel_shape", {3, 3}), attr_s("auto_pad", "VALID"), attr_ints("strides", {2, 2}),
                         attr_i("ceil_mode", 1)}) == "float[N, 2, 15, 2]");
  CHECK(pool("AveragePool", {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1})}) ==
        "float[N, 2, 32, 5]");
  // Unknown spatial sizes: unknown outputs, except SAME at stride 1.
  CHECK(infer1("MaxPool", {typed(F, {"N", 2, "H", "W"})},
               {attr_ints("kernel_shape", {3, 3}), attr_s("auto_pad", "SAME_LOWER")}, 12) == "float[N, 2, H, W]");
  CHECK(infer1("MaxPool", {typed(F, {"N", 2, "H", "W"})}, {attr_ints("kernel_shape", {3, 3})}, 12) ==
        "float[N, 2, ?, ?]");
  CHECK(infer1("MaxPool", {any_rank(DType::kFloat)}, {attr_ints("kernel_shape", {3, 3})}, 12) == "float[?, ?, ?, ?]");
}

TEST_CASE("Pooling errors name the node", "[shapes]") {
  const ShapeInput x = typed(F, {1, 1, 4, 4});
  CHECK_THROWS_WITH(infer1("MaxPool", {x}, {}, 12), Contains("[MaxPool node") && Contains("kernel_shape is required"));
  CHECK_THROWS_WITH(infer1("AveragePool", {x}, {attr_ints("kernel_shape", {2})}, 12),
                    Contains("kernel_shape has 1 values but the input has 2 spatial axes"));
  CHECK_THROWS_WITH(infer1("MaxPool", {x}, {attr_ints("kernel_shape", {5, 5})}, 12),
                    Contains("larger than the padded input"));
  CHECK_THROWS_WITH(infer1("MaxPool", {x}, {attr_ints("kernel_shape", {2, 2}), attr_i("storage_order", 2)}, 12),
                    Contains("'storage_order' is 2; it must be 0 or 1"));
  CHECK_THROWS_WITH(infer1("MaxPool", {typed(F, {1, 4})}, {attr_ints("kernel_shape", {2})}, 12), Contains("rank >= 3"));
}

TEST_CASE("Global pools reduce every spatial axis to 1", "[shapes]") {
  CHECK(infer1("GlobalAveragePool", {typed(F, {"N", 8, "H", "W"})}, {}, 1) == "float[N, 8, 1, 1]");
  CHECK(infer1("GlobalMaxPool", {typed(F, {2, 8, 3})}, {}, 22) == "float[2, 8, 1]");
  CHECK(infer1("GlobalLpPool", {any_rank(DType::kDouble)}, {}, 2) == "double[...]");
}

TEST_CASE("MaxUnpool with and without output_shape", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 1, 2, 2});
  const ShapeInput idx = typed(DType::kInt64, {"N", 1, 2, 2});
  const std::vector<ir::Attribute> attrs = {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})};
  CHECK(infer1("MaxUnpool", {x, idx}, attrs, 11) == "float[N, 1, 4, 4]");
  CHECK(infer1("MaxUnpool", {x, idx},
               {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 0, 0, 1})},
               11) == "float[N, 1, 3, 3]");
  CHECK(infer1("MaxUnpool", {x, idx, known_ints({1, 1, 5, 5})}, attrs, 11) == "float[1, 1, 5, 5]");
  CHECK(infer1("MaxUnpool", {x, idx, typed(DType::kInt64, {4})}, attrs, 11) == "float[?, ?, ?, ?]");
  CHECK_THROWS_WITH(infer1("MaxUnpool", {x, idx, known_ints({1, 5, 5})}, attrs, 11),
                    Contains("output_shape must have 4 values"));
  CHECK_THROWS_WITH(infer1("MaxUnpool", {x, typed(DType::kInt64, {1, 1, 3, 2})}, attrs, 11),
                    Contains("indices int64[1, 1, 3, 2] must have the shape of X"));
}

TEST_CASE("Resize with known scales or sizes", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 3, 4, 6});
  const ShapeInput none = omitted();
  CHECK(infer1("Resize", {x, none, known_floats({1, 1, 2, 0.5f})}, {}, 13) == "float[N, 3, 8, 3]");
  // Opset 11: roi and scales given as empty tensors, sizes stretch every axis.
  CHECK(infer1("Resize", {x, known_floats({}), known_floats({}), known_ints({1, 3, 5, 7})}, {}, 11) ==
        "float[1, 3, 5, 7]");
  CHECK(infer1("Resize", {x, none, none, known_ints({5, 7})}, {attr_ints("axes", {2, -1})}, 18) == "float[N, 3, 5, 7]");
  CHECK(infer1("Resize", {typed(F, {1, 3, 4, 8}), none, none, known_ints({6, 6})},
               {attr_ints("axes", {2, 3}), attr_s("keep_aspect_ratio_policy", "not_larger")},
               18) == "float[1, 3, 3, 6]");
  // A symbolic axis scaled by 1 stays; under not_smaller an unknown resized axis leaves all unknown.
  CHECK(infer1("Resize", {typed(F, {"N", 3, "H", 6}), none, known_floats({1, 1, 2, 2})}, {}, 13) ==
        "float[N, 3, ?, 12]");
  CHECK(infer1("Resize", {typed(F, {1, 3, "H", 8}), none, none, known_ints({6, 6})},
               {attr_ints("axes", {2, 3}), attr_s("keep_aspect_ratio_policy", "not_smaller")},
               18) == "float[1, 3, ?, ?]");
  CHECK_THROWS_WITH(infer1("Resize", {x, none, known_floats({1, 1, 2})}, {}, 13),
                    Contains("scales has 3 values, expected 4"));
  CHECK_THROWS_WITH(infer1("Resize", {x, none, known_floats({1, 1, 2, 2}), known_ints({1, 3, 8, 8})}, {}, 13),
                    Contains("exactly one of scales and sizes"));
}

TEST_CASE("Resize with unknown scales or sizes keeps rank and untouched axes", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 3, 4, 6});
  const ShapeInput none = omitted();
  const ShapeInput sizes = typed(DType::kInt64, {2});
  CHECK(infer1("Resize", {x, none, typed(DType::kFloat, {4})}, {}, 13) == "float[?, ?, ?, ?]");
  CHECK(infer1("Resize", {x, none, none, sizes}, {attr_ints("axes", {2, 3})}, 18) == "float[N, 3, ?, ?]");
  // Rank unknown: the number of sizes tells it; known sizes (stretch) are the output.
  CHECK(infer1("Resize", {any_rank(DType::kFloat), none, none, typed(DType::kInt64, {3})}, {}, 13) == "float[?, ?, ?]");
  CHECK(infer1("Resize", {any_rank(DType::kFloat), none, none, known_ints({2, 5})}, {}, 13) == "float[2, 5]");
  CHECK(infer1("Resize", {x, none, known_floats({}), sizes}, {attr_ints("axes", {2, 3})}, 13) == "float[N, 3, ?, ?]");
}

TEST_CASE("Resize-10 and Upsample: scales input, attribute and height/width", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 2, 3, 4});
  CHECK(infer1("Resize", {x, known_floats({1, 1, 2, 1.5f})}, {}, 10) == "float[N, 2, 6, 6]");
  CHECK(infer1("Resize", {x, typed(DType::kFloat, {4})}, {}, 10) == "float[?, ?, ?, ?]");
  CHECK(infer1("Upsample", {x, known_floats({1, 1, 2, 2})}, {}, 9) == "float[N, 2, 6, 8]");
  CHECK(infer1("Upsample", {x}, {attr_floats("scales", {1, 1, 3, 2})}, 7) == "float[N, 2, 9, 8]");
  CHECK(infer1("Upsample", {x}, {attr_f("height_scale", 2.0f), attr_f("width_scale", 3.0f)}, 1) ==
        "float[N, 2, 6, 12]");
  CHECK_THROWS_WITH(
      infer1("Upsample", {typed(F, {2, 3, 4})}, {attr_f("height_scale", 2.0f), attr_f("width_scale", 3.0f)}, 1),
      Contains("needs a 4-D input"));
  CHECK_THROWS_WITH(infer1("Upsample", {x}, {}, 8), Contains("the scales attribute is required"));
}

TEST_CASE("Pooling rules agree with the kernel", "[shapes]") {
  check_rule_matches_kernel(11, 200, 100, [](int trial, WindowSweep& sweep, const Window1d& w) {
    const char* ops[] = {"MaxPool", "AveragePool", "LpPool"};
    std::vector<ir::Attribute> attrs = {attr_ints("kernel_shape", {w.k}), attr_ints("strides", {w.s}),
                                        attr_ints("dilations", {w.d}), attr_s("auto_pad", w.mode),
                                        attr_i("ceil_mode", sweep.pick(0, 1))};
    if (w.mode == "NOTSET") attrs.push_back(attr_ints("pads", {w.pb, w.pe}));
    return SweepCase{ops[trial % 3], 22, {{1, 2, w.in}}, attrs};
  });
}
