// Shape and type rules of the normalization and reduction families (kernels/ops/normalization_shapes.cpp,
// reduction_shapes.cpp): statistics outputs by opset, axes as attribute or input (known or not),
// keepdims and noop_with_empty_axes, TopK's k, and errors on parameters that contradict X.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/error.h"
#include "support/shape_cases.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;

TEST_CASE("shapes: every normalization and reduction op version has a rule", "[shapes]") {
  check_every_version_has_rule({"BatchNormalization", "LayerNormalization", "InstanceNormalization",
                                "GroupNormalization", "LpNormalization", "MeanVarianceNormalization", "Softmax",
                                "LogSoftmax", "Hardmax", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                "ReduceSumSquare", "ArgMax", "ArgMin", "TopK", "CumSum"});
}

TEST_CASE("shapes: BatchNormalization's statistics outputs follow input_mean and input_var", "[shapes]") {
  const std::vector<ShapeInput> in = {typed(F, {"N", 3, 4, 4}), typed(F, {3}), typed(F, {3}), typed(F, {3}),
                                      typed(F, {3})};
  CHECK(infer_node("BatchNormalization", in, {}, 15, 1) == Strings{"float[N, 3, 4, 4]"});
  // Opset 14+: running_mean and running_var (training_mode); input_mean may have its own type (15+).
  std::vector<ShapeInput> in_double = in;
  in_double[3] = typed(DType::kDouble, {3});
  in_double[4] = typed(DType::kDouble, {3});
  CHECK(infer_node("BatchNormalization", in_double, {attr_i("training_mode", 1)}, 15, 3) ==
        Strings{"float[N, 3, 4, 4]", "double[3]", "double[3]"});
  // Opsets 1-13: also saved_mean and saved_var.
  CHECK(infer_node("BatchNormalization", in, {}, 9, 5) ==
        Strings{"float[N, 3, 4, 4]", "float[3]", "float[3]", "float[3]", "float[3]"});
  // spatial=0 (opsets 1-8): per-activation parameters of C*D values.
  std::vector<ShapeInput> per_activation(5, typed(F, {3, 2}));
  per_activation[0] = typed(F, {"N", 3, 2});
  CHECK(infer_node("BatchNormalization", per_activation, {attr_i("spatial", 0)}, 7, 2) ==
        Strings{"float[N, 3, 2]", "float[3, 2]"});
}

TEST_CASE("shapes: BatchNormalization rejects parameters that do not fit X", "[shapes]") {
  std::vector<ShapeInput> in = {typed(F, {"N", 3, 4}), typed(F, {4}), typed(F, {4}), typed(F, {4}), typed(F, {4})};
  CHECK_THROWS_WITH(infer1("BatchNormalization", in, {}, 15), Catch::Contains("expected C = 3"));
  in[1] = typed(F, {3});
  CHECK_THROWS_WITH(infer1("BatchNormalization", in, {}, 15), Catch::Contains("B has 4 elements, scale has 3"));
  in[0] = typed(F, {3});
  CHECK_THROWS_WITH(infer1("BatchNormalization", in, {}, 15), Catch::Contains("rank 2 or more"));
}

TEST_CASE("shapes: LayerNormalization's Mean and InvStdDev", "[shapes]") {
  const std::vector<ShapeInput> in = {typed(F, {"N", "S", 8}), typed(F, {8}), typed(F, {8})};
  CHECK(infer_node("LayerNormalization", in, {}, 17, 3) == Strings{"float[N, S, 8]", "float[N, S, 1]", "float[N, S, 1]"});
  CHECK(infer_node("LayerNormalization", {typed(F, {"N", 4, 8}), typed(F, {1, 4, 8}), omitted()},
                   {attr_i("axis", 1), attr_i("stash_type", 11)}, 17, 3) ==
        Strings{"float[N, 4, 8]", "double[N, 1, 1]", "double[N, 1, 1]"});
  CHECK(infer_node("LayerNormalization", {any_rank(F), typed(F, {8})}, {}, 17, 2) == Strings{"float[...]", "float[...]"});
  CHECK_THROWS_WITH(infer1("LayerNormalization", {typed(F, {"N", 8}), typed(F, {5})}, {}, 17),
                    Catch::Contains("does not broadcast to the normalized shape"));
  CHECK_THROWS_WITH(infer1("LayerNormalization", {typed(F, {"N", 8}), typed(F, {8}), typed(F, {2, 8})}, {}, 17),
                    Catch::Contains("B of shape"));
  CHECK_THROWS_WITH(infer1("LayerNormalization", {typed(F, {"N", 8}), typed(F, {8})}, {attr_i("axis", 2)}, 17),
                    Catch::Contains("out of range"));
  CHECK_THROWS_WITH(infer1("LayerNormalization", {typed(F, {"N", 8}), typed(F, {8})}, {attr_i("stash_type", 10)}, 17),
                    Catch::Contains("stash_type 10"));
}

TEST_CASE("shapes: Instance, Group, Lp and mean-variance normalization keep X", "[shapes]") {
  CHECK(infer1("InstanceNormalization", {typed(F, {"N", 3, "H", "W"}), typed(F, {3}), typed(F, {3})}, {}, 6) ==
        "float[N, 3, H, W]");
  CHECK_THROWS_WITH(infer1("InstanceNormalization", {typed(F, {"N", 3, 5}), typed(F, {4}), typed(F, {3})}, {}, 6),
                    Catch::Contains("need C = 3"));
  const Strings group = {"float[N, 4, 5]"};
  CHECK(infer_node("GroupNormalization", {typed(F, {"N", 4, 5}), typed(F, {4}), typed(F, {4})}, {attr_i("num_groups", 2)},
                   21) == group);
  CHECK(infer_node("GroupNormalization", {typed(F, {"N", 4, 5}), typed(F, {2}), typed(F, {2})}, {attr_i("num_groups", 2)},
                   18) == group);
  CHECK_THROWS_WITH(infer1("GroupNormalization", {typed(F, {"N", 4, 5}), typed(F, {2}), typed(F, {2})},
                           {attr_i("num_groups", 2)}, 21),
                    Catch::Contains("need 4 elements"));
  CHECK_THROWS_WITH(infer1("GroupNormalization", {typed(F, {"N", 6, 5}), typed(F, {6}), typed(F, {6})},
                           {attr_i("num_groups", 4)}, 21),
                    Catch::Contains("does not divide C = 6"));
  CHECK_THROWS_WITH(infer1("GroupNormalization", {typed(F, {"N", 6}), typed(F, {6}), typed(F, {6})}, {}, 21),
                    Catch::Contains("num_groups is required"));
  CHECK(infer1("LpNormalization", {typed(F, {"N", 3})}, {attr_i("axis", 0)}, 1) == "float[N, 3]");
  CHECK_THROWS_WITH(infer1("LpNormalization", {typed(F, {"N", 3})}, {attr_i("axis", 2)}, 1), Catch::Contains("out of range"));
  CHECK(infer1("MeanVarianceNormalization", {typed(F, {"N", 3, 2, 2})}, {}, 13) == "float[N, 3, 2, 2]");
  CHECK_THROWS_WITH(infer1("MeanVarianceNormalization", {typed(F, {"N", 3, 2})}, {}, 13), Catch::Contains("out of range"));
}

TEST_CASE("shapes: Softmax, LogSoftmax and Hardmax check their axis by opset", "[shapes]") {
  CHECK(infer1("Softmax", {typed(F, {"N", 10})}, {}, 13) == "float[N, 10]");
  CHECK(infer1("LogSoftmax", {typed(DType::kDouble, {"N", 3, 4})}, {attr_i("axis", -3)}, 11) == "double[N, 3, 4]");
  CHECK_THROWS_WITH(infer1("Hardmax", {typed(F, {4})}, {}, 11), Catch::Contains("axis 1 is out of range"));
  CHECK(infer1("Hardmax", {typed(F, {4})}, {}, 13) == "float[4]");
}

TEST_CASE("shapes: ReduceXxx with axes as attribute", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 3, 4});
  CHECK(infer1("ReduceMean", {x}, {attr_ints("axes", {-1})}, 13) == "float[N, 3, 1]");
  CHECK(infer1("ReduceMax", {x}, {attr_ints("axes", {0, 2}), attr_i("keepdims", 0)}, 13) == "float[3]");
  CHECK(infer1("ReduceSum", {x}, {attr_i("keepdims", 0)}, 11) == "float[]");
  CHECK(infer1("ReduceL2", {x}, {}, 11) == "float[1, 1, 1]");
  CHECK(infer1("ReduceProd", {any_rank(I64)}, {attr_i("keepdims", 0)}, 13) == "int64[]");
  CHECK(infer1("ReduceProd", {any_rank(I64)}, {attr_ints("axes", {0})}, 13) == "int64[...]");
  CHECK_THROWS_WITH(infer1("ReduceMin", {x}, {attr_ints("axes", {3})}, 13), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(infer1("ReduceMin", {x}, {attr_ints("axes", {1, -2})}, 13), Catch::Contains("listed twice"));
  // From opset 18 (13 for ReduceSum) the attribute is gone.
  CHECK_THROWS_WITH(infer1("ReduceMean", {x}, {attr_ints("axes", {1})}, 18), Catch::Contains("not an attribute"));
}

TEST_CASE("shapes: ReduceXxx with axes as input, known or not", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 1, 4});
  CHECK(infer1("ReduceSum", {x, known_ints({-1})}, {attr_i("keepdims", 0)}, 13) == "float[N, 1]");
  CHECK(infer1("ReduceLogSumExp", {x, known_ints({0, 2})}, {}, 18) == "float[1, 1, 1]");
  // Omitted or empty axes: every axis, or none with noop_with_empty_axes.
  CHECK(infer1("ReduceSum", {x}, {attr_i("keepdims", 0)}, 13) == "float[]");
  CHECK(infer1("ReduceSum", {x, known_ints({})}, {}, 13) == "float[1, 1, 1]");
  CHECK(infer1("ReduceSum", {x, typed(I64, {0})}, {attr_i("noop_with_empty_axes", 1)}, 13) == "float[N, 1, 4]");
  CHECK(infer1("ReduceMax", {x, omitted()}, {attr_i("noop_with_empty_axes", 1), attr_i("keepdims", 0)}, 18) ==
        "float[N, 1, 4]");
  // Unknown axes: keepdims keeps the rank (size-1 dims stay 1); otherwise the axes' length tells it.
  CHECK(infer1("ReduceSum", {x, typed(I64, {1})}, {}, 13) == "float[?, 1, ?]");
  CHECK(infer1("ReduceSum", {x, typed(I64, {2})}, {attr_i("keepdims", 0)}, 13) == "float[?]");
  CHECK(infer1("ReduceSum", {x, typed(I64, {"A"})}, {attr_i("keepdims", 0)}, 13) == "float[...]");
  CHECK_THROWS_WITH(infer1("ReduceSum", {x, typed(I64, {4})}, {attr_i("keepdims", 0)}, 13),
                    Catch::Contains("axes holds 4 values"));
  CHECK_THROWS_WITH(infer1("ReduceSum", {x, known_ints({5})}, {}, 13), Catch::Contains("out of range"));
}

TEST_CASE("shapes: ArgMax and ArgMin give int64", "[shapes]") {
  CHECK(infer1("ArgMax", {typed(F, {"N", 3, 4})}, {}, 13) == "int64[1, 3, 4]");
  CHECK(infer1("ArgMin", {typed(F, {"N", 3, 4})}, {attr_i("axis", -1), attr_i("keepdims", 0)}, 13) == "int64[N, 3]");
  CHECK(infer1("ArgMax", {any_rank(F)}, {attr_i("select_last_index", 1)}, 12) == "int64[...]");
  CHECK_THROWS_WITH(infer1("ArgMax", {typed(F, {3})}, {attr_i("axis", 1)}, 13), Catch::Contains("out of range"));
}

TEST_CASE("shapes: TopK puts k at its axis", "[shapes]") {
  const ShapeInput x = typed(F, {"N", 3, 5});
  CHECK(infer_node("TopK", {x, known_ints({2})}, {}, 11, 2) == Strings{"float[N, 3, 2]", "int64[N, 3, 2]"});
  CHECK(infer_node("TopK", {x, typed(I64, {1})}, {attr_i("axis", 1)}, 11, 2) == Strings{"float[N, ?, 5]", "int64[N, ?, 5]"});
  CHECK(infer_node("TopK", {x}, {attr_i("k", 3)}, 1, 2) == Strings{"float[N, 3, 3]", "int64[N, 3, 3]"});
  CHECK(infer_node("TopK", {any_rank(F), known_ints({2})}, {}, 10, 2) == Strings{"float[...]", "int64[...]"});
  CHECK_THROWS_WITH(infer_node("TopK", {x, known_ints({6})}, {}, 11, 2), Catch::Contains("k = 6 is outside [0, 5]"));
  CHECK_THROWS_WITH(infer_node("TopK", {x, typed(I64, {2})}, {}, 11, 2), Catch::Contains("K must hold one value"));
  CHECK_THROWS_WITH(infer_node("TopK", {x}, {}, 1, 2), Catch::Contains("k is required"));
  // Values and Indices are both required outputs (the schema check counts them).
  CHECK_THROWS_WITH(infer1("TopK", {x, known_ints({2})}, {}, 11), Catch::Contains("has 1 output; TopK gives 2"));
}

TEST_CASE("shapes: CumSum keeps X and checks its axis", "[shapes]") {
  CHECK(infer1("CumSum", {typed(F, {"N", 3}), typed(I64, {})}, {}, 14) == "float[N, 3]");
  CHECK(infer1("CumSum", {typed(DType::kInt32, {"N", 3}), known_scalar(-1)},
               {attr_i("reverse", 1)}, 11) == "int32[N, 3]");
  CHECK_THROWS_WITH(infer1("CumSum", {typed(F, {"N", 3}), known_ints({2})}, {}, 14), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(infer1("CumSum", {typed(F, {"N", 3}), typed(I64, {2})}, {}, 14), Catch::Contains("must be a scalar"));
}
