// Shape and type rules of the nn family (Conv, ConvTranspose, Gemm, MatMul): symbolic batch kept,
// auto_pad, dilations, strides, groups, kernel_shape from W, output_shape/output_padding, Gemm's C,
// MatMul's 1-D and batched operands, errors on contradicting inputs, and agreement with the kernels.
#include <catch2/catch.hpp>

#include "support/shape_cases.h"

using namespace scalec;
using namespace scalec::test;
using Catch::Matchers::Contains;
using ir::DType;

TEST_CASE("Conv keeps the symbolic batch and computes spatial sizes", "[shapes]") {
  // 7x7 stride 2 pad 3 (ResNet stem): 224 -> 112.
  CHECK(infer1("Conv", {typed(F, {"N", 3, 224, 224}), typed(F, {64, 3, 7, 7})},
               {attr_ints("strides", {2, 2}), attr_ints("pads", {3, 3, 3, 3})}, 13) == "float[N, 64, 112, 112]");
  // Dilation 2 widens a 3-tap kernel to 5: 7 -> 3; asymmetric pads; 1-D and 3-D.
  CHECK(infer1("Conv", {typed(F, {1, 2, 7, 7}), typed(F, {4, 2, 3, 3})},
               {attr_ints("dilations", {2, 2}), attr_ints("pads", {0, 1, 0, 0})}, 11) == "float[1, 4, 3, 4]");
  CHECK(infer1("Conv", {typed(F, {2, 1, 10}), typed(F, {3, 1, 4})}, {attr_ints("strides", {3})}, 1) ==
        "float[2, 3, 3]");
  CHECK(infer1("Conv", {typed(F, {1, 1, 4, 5, 6}), typed(F, {2, 1, 2, 2, 2})}, {}, 22) == "float[1, 2, 3, 4, 5]");
}

TEST_CASE("Conv auto_pad SAME_UPPER, SAME_LOWER and VALID", "[shapes]") {
  auto conv = [](const char* mode, int64_t stride) {
    return infer1("Conv", {typed(F, {1, 1, 5, 6}), typed(F, {1, 1, 3, 3})},
                  {attr_s("auto_pad", mode), attr_ints("strides", {stride, stride}), attr_ints("pads", {})}, 11);
  };
  CHECK(conv("SAME_UPPER", 2) == "float[1, 1, 3, 3]");
  CHECK(conv("SAME_LOWER", 2) == "float[1, 1, 3, 3]");
  CHECK(conv("SAME_UPPER", 1) == "float[1, 1, 5, 6]");
  CHECK(conv("VALID", 2) == "float[1, 1, 2, 2]");
  CHECK(conv("NOTSET", 1) == "float[1, 1, 3, 4]");
  CHECK_THROWS_WITH(conv("SAME", 1), Contains("attribute 'auto_pad' is 'SAME'; it must be one of"));
}

TEST_CASE("Conv with unknown spatial sizes keeps what it can", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 3, "H", "W"});
  // A 1x1 kernel at stride 1, or SAME at stride 1, leaves H and W as they are.
  CHECK(infer1("Conv", {x, typed(F, {16, 3, 1, 1})}, {}, 13) == "float[N, 16, H, W]");
  CHECK(infer1("Conv", {x, typed(F, {16, 3, 3, 3})}, {attr_s("auto_pad", "SAME_LOWER")}, 13) == "float[N, 16, H, W]");
  CHECK(infer1("Conv", {x, typed(F, {16, 3, 3, 3})}, {}, 13) == "float[N, 16, ?, ?]");
  // kernel_shape stands in for W's unknown kernel dims; W's rank alone gives the rank.
  CHECK(infer1("Conv", {typed(F, {1, 3, 8, 8}), typed(F, {"M", 3, "kh", "kw"})}, {attr_ints("kernel_shape", {3, 3})},
               13) == "float[1, M, 6, 6]");
  CHECK(infer1("Conv", {any_rank(DType::kFloat), typed(F, {8, 3, 3, 3})}, {}, 13) == "float[?, 8, ?, ?]");
  CHECK(infer1("Conv", {any_rank(DType::kFloat), any_rank(DType::kFloat)}, {}, 13) == "float[...]");
}

TEST_CASE("Conv groups and errors on contradicting inputs", "[shapes]") {
  auto grouped = [](int64_t group) {
    return infer1("Conv", {typed(F, {1, 8, 5, 5}), typed(F, {8, 2, 3, 3})}, {attr_i("group", group)}, 13);
  };
  CHECK(grouped(4) == "float[1, 8, 3, 3]");
  CHECK_THROWS_WITH(grouped(3), Contains("[Conv node") && Contains("X has 8 channels"));
  CHECK_THROWS_WITH(infer1("Conv", {typed(F, {1, 3, 2, 2}), typed(F, {4, 3, 3, 3})}, {}, 13),
                    Contains("larger than the padded input"));
  CHECK_THROWS_WITH(infer1("Conv", {typed(F, {1, 3, 5, 5}), typed(F, {4, 3, 3, 3}), typed(F, {5})}, {}, 13),
                    Contains("B float[5] must have shape [4]"));
  CHECK_THROWS_WITH(
      infer1("Conv", {typed(F, {1, 3, 5, 5}), typed(F, {4, 3, 3, 3})}, {attr_ints("kernel_shape", {2, 2})}, 13),
      Contains("kernel_shape [2, 2] does not match W"));
  CHECK_THROWS_WITH(infer1("Conv", {typed(F, {1, 3, 5}), typed(F, {4, 3, 3, 3})}, {}, 13),
                    Contains("must have the rank of X"));
  CHECK_THROWS_WITH(infer1("Conv", {typed(F, {1, 3, 5, 5}), typed(F, {4, 3, 3, 3})}, {attr_ints("strides", {1})}, 13),
                    Contains("strides has 1 values, expected 2"));
}

TEST_CASE("ConvTranspose output sizes: pads, output_padding, output_shape, SAME, groups", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 4, 3, 3});
  const ShapeInput w = typed(F, {4, 2, 3, 3});
  CHECK(infer1("ConvTranspose", {x, w}, {}, 11) == "float[N, 2, 5, 5]");
  CHECK(infer1("ConvTranspose", {x, w}, {attr_ints("strides", {3, 2}), attr_ints("output_padding", {1, 1})}, 11) ==
        "float[N, 2, 10, 8]");
  CHECK(infer1("ConvTranspose", {x, w}, {attr_ints("strides", {3, 2}), attr_ints("output_shape", {10, 8})}, 11) ==
        "float[N, 2, 10, 8]");
  CHECK(infer1("ConvTranspose", {x, w}, {attr_ints("output_shape", {1, 2, 7, 6})}, 11) == "float[N, 2, 7, 6]");
  CHECK(infer1("ConvTranspose", {x, w}, {attr_ints("strides", {2, 2}), attr_s("auto_pad", "SAME_UPPER")}, 11) ==
        "float[N, 2, 6, 6]");
  CHECK(infer1("ConvTranspose", {x, w}, {attr_ints("pads", {1, 0, 1, 2})}, 11) == "float[N, 2, 3, 3]");
  CHECK(infer1("ConvTranspose", {x, w}, {attr_i("group", 2)}, 11) == "float[N, 4, 5, 5]");
  CHECK(infer1("ConvTranspose", {typed(F, {1, 4, "H", 3}), w}, {}, 11) == "float[1, 2, ?, 5]");
  CHECK(infer1("ConvTranspose", {typed(F, {1, 4, "H", 3}), w}, {attr_s("auto_pad", "SAME_LOWER")}, 11) ==
        "float[1, 2, H, 3]");
  CHECK_THROWS_WITH(infer1("ConvTranspose", {typed(F, {1, 3, 3, 3}), w}, {}, 11), Contains("X has 3 channels but W"));
  CHECK_THROWS_WITH(infer1("ConvTranspose", {x, w}, {attr_ints("pads", {3, 0, 3, 0})}, 11),
                    Contains("exceed the output extent 5"));
}

TEST_CASE("Gemm: transA, transB and C broadcasting", "[shapes]") {
  const ShapeInput a = typed(F, {"M", 3});
  const ShapeInput at = typed(F, {3, "M"});
  const ShapeInput b = typed(F, {3, 4});
  const ShapeInput bt = typed(F, {4, 3});
  CHECK(infer1("Gemm", {a, b}, {}, 13) == "float[M, 4]");
  CHECK(infer1("Gemm", {at, bt, typed(F, {4})}, {attr_i("transA", 1), attr_i("transB", 1)}, 13) == "float[M, 4]");
  CHECK(infer1("Gemm", {a, b, typed(F, {"M", 1})}, {}, 13) == "float[M, 4]");
  CHECK_THROWS_WITH(infer1("Gemm", {a, b, typed(F, {3})}, {}, 13), Contains("C float[3] does not broadcast to"));
  CHECK_NOTHROW(infer1("Gemm", {a, b, typed(F, {3})}, {attr_f("beta", 0.0f)}, 13));  // C unread
  CHECK_THROWS_WITH(infer1("Gemm", {a, bt}, {}, 13), Contains("op(A) has 3 columns but op(B) has 4 rows"));
  CHECK_THROWS_WITH(infer1("Gemm", {typed(F, {2, 3, 1}), b}, {}, 13), Contains("must be matrices"));
  CHECK_THROWS_WITH(infer1("Gemm", {a, typed(DType::kDouble, {3, 4})}, {}, 13), Contains("different element types"));
  // Opsets 1-6: C must be exactly [M, N] unless broadcast=1.
  const ShapeInput a2 = typed(F, {2, 3});
  CHECK_THROWS_WITH(infer1("Gemm", {a2, b, typed(F, {1, 4})}, {}, 6), Contains("does not match"));
  CHECK(infer1("Gemm", {a2, b, typed(F, {1, 4})}, {attr_i("broadcast", 1)}, 6) == "float[2, 4]");
  CHECK(infer1("Gemm", {typed(DType::kInt32, {2, 3}), typed(DType::kInt32, {3, 5})}, {}, 11) == "int32[2, 5]");
}

TEST_CASE("MatMul: 1-D operands, batch broadcasting, symbolic dims", "[shapes]") {
  CHECK(infer1("MatMul", {typed(F, {3}), typed(F, {3, 4})}, {}, 13) == "float[4]");
  CHECK(infer1("MatMul", {typed(F, {"B", 2, 3}), typed(F, {3})}, {}, 13) == "float[B, 2]");
  CHECK(infer1("MatMul", {typed(F, {3}), typed(F, {3})}, {}, 13) == "float[]");
  CHECK(infer1("MatMul", {typed(F, {2, 1, 3, 4}), typed(F, {5, 4, 6})}, {}, 9) == "float[2, 5, 3, 6]");
  CHECK(infer1("MatMul", {typed(F, {"B", "S", 64}), typed(F, {64, 128})}, {}, 13) == "float[B, S, 128]");
  CHECK(infer1("MatMul", {typed(F, {"B", 2, 3}), any_rank(DType::kFloat)}, {}, 13) == "float[...]");
  CHECK_THROWS_WITH(infer1("MatMul", {typed(F, {2, 3}), typed(F, {4, 5})}, {}, 13),
                    Contains("[MatMul node") && Contains("K = 3 vs 4"));
  CHECK_THROWS_WITH(infer1("MatMul", {typed(F, {2, 2, 3}), typed(F, {3, 3, 5})}, {}, 13),
                    Contains("cannot be broadcast"));
}

TEST_CASE("Conv and ConvTranspose rules agree with the kernels", "[shapes]") {
  // Random geometries through both the rule and the Executor: the shapes must be equal.
  check_rule_matches_kernel(7, 200, 100, [](int trial, WindowSweep& sweep, const Window1d& w) {
    const bool transpose = trial % 2 == 1;
    std::vector<ir::Attribute> attrs = {attr_ints("strides", {w.s}), attr_ints("dilations", {w.d}),
                                        attr_s("auto_pad", w.mode)};
    if (w.mode == "NOTSET") attrs.push_back(attr_ints("pads", {w.pb, w.pe}));
    if (transpose && sweep.pick(0, 1)) attrs.push_back(attr_ints("output_padding", {sweep.pick(0, w.s - 1)}));
    return SweepCase{transpose ? "ConvTranspose" : "Conv", 13, {{1, 2, w.in}, {2, 2, w.k}}, attrs};
  });
}
