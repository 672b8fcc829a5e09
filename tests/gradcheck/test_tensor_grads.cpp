// Backward rules of the tensor family (kernels/ops/tensor_grads.cpp, tensor_index_grads.cpp)
// against central finite differences in double: Identity, Dropout (training run: the mask; ratio 0:
// identity), Reshape, Flatten, Squeeze, Unsqueeze (attribute and input forms), Transpose, Expand,
// Tile (both forms), Concat, Split (every opset form), Slice (attributes, inputs, negative steps,
// clamped bounds), Gather (repeated and negative indices, scalar index), Pad (constant with crops,
// reflect, edge, wrap; attribute, input and axes forms), Resize (nearest, linear, cubic,
// antialias, tf_crop_and_resize, sizes, axes) and Upsample. Shape, index and scale inputs are
// initializers and are not checked. Last, a model mixing the tensor, normalization and reduction
// rules must give bitwise the same gradients on 1 and 4 threads.
#include <catch2/catch.hpp>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "kernels/exec/autodiff.h"
#include "kernels/exec/executor.h"
#include "support/gradcheck.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;
using ir::GraphBuilder;
using ir::Tensor;

namespace {

using Ints = std::vector<int64_t>;

Tensor x_of(Ints shape, uint64_t seed) { return test::random_doubles(std::move(shape), seed); }
GradInput ints(Ints v) { return GradInput::fixed(test::int64s({static_cast<int64_t>(v.size())}, v)); }
GradInput int_scalar(int64_t v) { return GradInput::fixed(test::int64s({}, {v})); }
GradInput floats(std::vector<float> v) { return GradInput::fixed(Tensor::from_floats({static_cast<int64_t>(v.size())}, v)); }
GradInput omitted() { return GradInput{Tensor(), false, false}; }
GradInput scalar_double(double v) { return GradInput::fixed(doubles({}, {v})); }
GradInput bool_scalar(bool v) { return GradInput::fixed(bools({}, {v})); }

// One case: op, inputs, attributes, opset and declared outputs.
struct Case {
  std::string what;
  std::string op;
  std::vector<GradInput> inputs;
  std::vector<ir::Attribute> attrs;
  int64_t opset = 17;
  size_t outputs = 1;
};

void run_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    INFO(c.op << " opset " << c.opset << ": " << c.what);
    CHECK(test::gradcheck(c.op, c.inputs, c.attrs, at(c.opset, c.outputs)) == "");
  }
}

}  // namespace

TEST_CASE("Identity, Dropout and the reshaping ops pass dy through", "[gradcheck][tensor]") {
  const Tensor x = x_of({2, 3, 4}, 1);
  run_cases({
      {"identity", "Identity", {GradInput::data(x)}, {}, 16},
      {"training run: the mask and 1/(1-ratio), mask output declared", "Dropout",
       {GradInput::data(x), scalar_double(0.3), bool_scalar(true)}, {}, 13, 2},
      {"training run, data only", "Dropout", {GradInput::data(x)}, {}, 13},
      {"ratio attribute (opset 7)", "Dropout", {GradInput::data(x)}, {attr_f("ratio", 0.25f)}, 7, 2},
      {"ratio 0 copies", "Dropout", {GradInput::data(x), scalar_double(0.0)}, {}, 13},
      {"shape input with 0 and -1", "Reshape", {GradInput::data(x), ints({0, -1})}, {}, 13},
      {"shape attribute (opset 4)", "Reshape", {GradInput::data(x)}, {attr_ints("shape", {4, 6})}, 4},
      {"default axis 1", "Flatten", {GradInput::data(x)}, {}, 13},
      {"axis 0", "Flatten", {GradInput::data(x)}, {attr_i("axis", 0)}, 13},
      {"axis -1", "Flatten", {GradInput::data(x)}, {attr_i("axis", -1)}, 13},
      {"axes attribute", "Squeeze", {GradInput::data(x_of({2, 1, 3, 1}, 2))}, {attr_ints("axes", {1})}, 11},
      {"axes input, negative", "Squeeze", {GradInput::data(x_of({2, 1, 3, 1}, 3)), ints({1, -1})}, {}, 13},
      {"every size-1 axis", "Squeeze", {GradInput::data(x_of({1, 3, 1}, 4))}, {}, 13},
      {"axes attribute", "Unsqueeze", {GradInput::data(x)}, {attr_ints("axes", {0, 4})}, 11},
      {"axes input, negative", "Unsqueeze", {GradInput::data(x), ints({-1, 1})}, {}, 13},
  });
}

TEST_CASE("Transpose, Expand and Tile gradients", "[gradcheck][tensor]") {
  const Tensor x = x_of({2, 3, 4}, 10);
  run_cases({
      {"default: reversed axes", "Transpose", {GradInput::data(x)}, {}, 13},
      {"perm 1 2 0", "Transpose", {GradInput::data(x)}, {attr_ints("perm", {1, 2, 0})}, 13},
      {"perm 0 2 1", "Transpose", {GradInput::data(x)}, {attr_ints("perm", {0, 2, 1})}, 13},
      {"4-D perm", "Transpose", {GradInput::data(x_of({2, 1, 3, 2}, 11))}, {attr_ints("perm", {3, 0, 2, 1})}, 13},
      {"[3, 1] to [2, 3, 4]", "Expand", {GradInput::data(x_of({3, 1}, 12)), ints({2, 3, 4})}, {}, 13},
      {"[4] to [2, 1, 4]", "Expand", {GradInput::data(x_of({4}, 13)), ints({2, 1, 1})}, {}, 13},
      {"[2, 1, 4] with a shorter shape", "Expand", {GradInput::data(x_of({2, 1, 4}, 14)), ints({3, 1})}, {}, 13},
      {"[1] to [2, 3]", "Expand", {GradInput::data(x_of({1}, 15)), ints({2, 3})}, {}, 13},
      {"repeats 2 1 3", "Tile", {GradInput::data(x), ints({2, 1, 3})}, {}, 13},
      {"repeats 1 1 1", "Tile", {GradInput::data(x), ints({1, 1, 1})}, {}, 13},
      {"Tile-1: tiles 3 along axis 1", "Tile", {GradInput::data(x), int_scalar(3), int_scalar(1)}, {}, 1},
  });
}

TEST_CASE("Concat and Split gradients", "[gradcheck][tensor]") {
  run_cases({
      {"three inputs along axis 1", "Concat",
       {GradInput::data(x_of({2, 1, 3}, 20)), GradInput::data(x_of({2, 3, 3}, 21)), GradInput::data(x_of({2, 2, 3}, 22))},
       {attr_i("axis", 1)}, 13},
      {"axis -1", "Concat", {GradInput::data(x_of({2, 3}, 23)), GradInput::data(x_of({2, 1}, 24))}, {attr_i("axis", -1)}, 13},
      {"one input", "Concat", {GradInput::data(x_of({2, 3}, 25))}, {attr_i("axis", 0)}, 13},
      {"opset 1: default axis 1", "Concat", {GradInput::data(x_of({2, 3}, 26)), GradInput::data(x_of({2, 2}, 27))}, {}, 1},
      {"split attribute", "Split", {GradInput::data(x_of({2, 4, 3}, 30))}, {attr_i("axis", 1), attr_ints("split", {1, 3})}, 11, 2},
      {"equal parts (opset 2)", "Split", {GradInput::data(x_of({4, 3}, 31))}, {}, 2, 2},
      {"split input (opset 1)", "Split", {GradInput::data(x_of({4, 3}, 32)), ints({3, 1})}, {}, 1, 2},
      {"split input, axis -1", "Split", {GradInput::data(x_of({2, 5}, 33)), ints({2, 1, 2})}, {attr_i("axis", -1)}, 13, 3},
      {"num_outputs, uneven", "Split", {GradInput::data(x_of({2, 5, 2}, 34))}, {attr_i("axis", 1), attr_i("num_outputs", 3)}, 18, 3},
      {"equal parts, input form", "Split", {GradInput::data(x_of({6, 2}, 35))}, {}, 13, 3},
  });
}

TEST_CASE("Slice gradients scatter back, negative steps too", "[gradcheck][tensor]") {
  const Tensor x = x_of({3, 4, 5}, 40);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  run_cases({
      {"attributes", "Slice", {GradInput::data(x)}, {attr_ints("starts", {0, 1}), attr_ints("ends", {2, 4}), attr_ints("axes", {0, 2})}, 9},
      {"attributes, default axes, clamped end", "Slice", {GradInput::data(x)}, {attr_ints("starts", {1}), attr_ints("ends", {100})}, 9},
      {"inputs: negative start and end on a negative axis", "Slice", {GradInput::data(x), ints({1}), ints({-1}), ints({-1})}, {}, 13},
      {"steps 2 and -1", "Slice", {GradInput::data(x), ints({0, 3}), ints({10, 0}), ints({1, 2}), ints({2, -1})}, {}, 13},
      {"reversed whole axis by -2", "Slice", {GradInput::data(x), ints({-1}), ints({kMin}), ints({0}), ints({-2})}, {}, 13},
      {"whole tensor", "Slice", {GradInput::data(x), ints({0}), ints({kMax}), ints({1})}, {}, 13},
      {"empty result", "Slice", {GradInput::data(x), ints({2}), ints({2}), ints({1})}, {}, 13},
  });
}

TEST_CASE("Gather gradients add up over repeated indices", "[gradcheck][tensor]") {
  run_cases({
      {"axis 0, repeated", "Gather", {GradInput::data(x_of({3, 4}, 50)), ints({2, 0, 2})}, {}, 13},
      {"axis 1, 2-D indices with negatives", "Gather",
       {GradInput::data(x_of({2, 3, 4}, 51)), GradInput::fixed(test::int64s({2, 2}, {0, -1, 1, 1}))}, {attr_i("axis", 1)}, 13},
      {"scalar index on the last axis", "Gather", {GradInput::data(x_of({2, 3, 4}, 52)), int_scalar(-2)}, {attr_i("axis", -1)}, 13},
      {"opset 1", "Gather", {GradInput::data(x_of({4, 2}, 53)), ints({1, 1, 3})}, {}, 1},
  });
}

TEST_CASE("Pad gradients: constant crops, reflect, edge and wrap accumulate", "[gradcheck][tensor]") {
  const Tensor x = x_of({2, 3, 4}, 60);
  run_cases({
      {"constant, pads input", "Pad", {GradInput::data(x), ints({0, 1, 1, 1, 0, 2})}, {}, 13},
      {"constant with a value and negative pads (crops)", "Pad",
       {GradInput::data(x), ints({0, -1, 1, 0, 1, -2}), scalar_double(0.5)}, {}, 13},
      {"constant, pads attribute (opset 2)", "Pad", {GradInput::data(x)}, {attr_ints("pads", {1, 0, 0, 0, 2, 1})}, 2},
      {"constant, paddings attribute (opset 1)", "Pad", {GradInput::data(x)}, {attr_ints("paddings", {0, 0, 1, 0, 0, 1})}, 1},
      {"constant, axes input (opset 18)", "Pad", {GradInput::data(x), ints({1, 2, 0, 1}), omitted(), ints({1, -1})}, {}, 18},
      {"reflect", "Pad", {GradInput::data(x), ints({0, 1, 2, 0, 2, 3})}, {attr_s("mode", "reflect")}, 13},
      {"edge", "Pad", {GradInput::data(x), ints({1, 2, 3, 0, 1, 2})}, {attr_s("mode", "edge")}, 13},
      {"edge, attribute form", "Pad", {GradInput::data(x)}, {attr_s("mode", "edge"), attr_ints("pads", {0, 0, 2, 0, 0, 1})}, 2},
      {"wrap beyond the axis size", "Pad", {GradInput::data(x), ints({0, 2, 5, 0, 1, 3})}, {attr_s("mode", "wrap")}, 19},
  });
}

TEST_CASE("Resize and Upsample gradients are the adjoint of the interpolation", "[gradcheck][tensor]") {
  const Tensor x = x_of({1, 2, 3, 4}, 70);
  auto X = [&] { return GradInput::data(x); };
  run_cases({
      {"nearest x2 (half_pixel, round_prefer_floor)", "Resize", {X(), omitted(), floats({1, 1, 2, 2})}, {}, 13},
      {"nearest downsample, floor, asymmetric", "Resize", {X(), omitted(), floats({1, 1, 0.6f, 0.6f})},
       {attr_s("nearest_mode", "floor"), attr_s("coordinate_transformation_mode", "asymmetric")}, 13},
      {"linear x1.5 half_pixel", "Resize", {X(), omitted(), floats({1, 1, 1.5f, 1.5f})}, {attr_s("mode", "linear")}, 13},
      {"linear sizes, align_corners", "Resize", {X(), omitted(), omitted(), ints({1, 2, 5, 7})},
       {attr_s("mode", "linear"), attr_s("coordinate_transformation_mode", "align_corners")}, 13},
      {"linear downsample with antialias", "Resize", {X(), omitted(), floats({1, 1, 0.5f, 0.5f})},
       {attr_s("mode", "linear"), attr_i("antialias", 1)}, 18},
      {"cubic x2, pytorch_half_pixel", "Resize", {X(), omitted(), floats({1, 1, 2, 2})},
       {attr_s("mode", "cubic"), attr_s("coordinate_transformation_mode", "pytorch_half_pixel")}, 13},
      {"cubic exclude_outside", "Resize", {X(), omitted(), floats({1, 1, 1.7f, 0.8f})},
       {attr_s("mode", "cubic"), attr_i("exclude_outside", 1)}, 13},
      {"tf_crop_and_resize with extrapolation", "Resize",
       {X(), floats({0, 0, 0.2f, -0.1f, 1, 1, 0.9f, 1.2f}), omitted(), ints({1, 2, 4, 5})},
       {attr_s("mode", "linear"), attr_s("coordinate_transformation_mode", "tf_crop_and_resize"),
        attr_f("extrapolation_value", 2.0f)}, 13},
      {"axes attribute with sizes", "Resize", {X(), omitted(), omitted(), ints({5, 3})},
       {attr_s("mode", "linear"), attr_ints("axes", {3, 2})}, 18},
      {"keep_aspect_ratio_policy not_larger over axes 2, 3 (scale 1.5)", "Resize", {X(), omitted(), omitted(), ints({6, 6})},
       {attr_s("mode", "nearest"), attr_s("keep_aspect_ratio_policy", "not_larger"), attr_ints("axes", {2, 3})}, 18},
      {"Resize-10: nearest from the scales input", "Resize", {X(), floats({1, 1, 2, 1.5f})}, {}, 10},
      {"Resize-10: linear", "Resize", {X(), floats({1, 1, 2, 1.5f})}, {attr_s("mode", "linear")}, 10},
      {"Upsample-9: scales input, nearest", "Upsample", {X(), floats({1, 1, 2, 2})}, {}, 9},
      {"Upsample-9: linear", "Upsample", {X(), floats({1, 1, 1.5f, 2})}, {attr_s("mode", "linear")}, 9},
      {"Upsample-7: scales attribute", "Upsample", {X()}, {attr_floats("scales", {1, 1, 2, 3})}, 7},
  });
}

TEST_CASE("Backward rules give the same bytes with 1 and 4 threads", "[gradcheck][tensor][normalization][reduction]") {
  // Shapes large enough that every parallel loop splits into several chunks.
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 18}};
  GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", DType::kDouble, Ints{4, 8, 32, 32});
  ir::Value* s = b.input("s", DType::kDouble, Ints{8});
  ir::Value* c = b.initializer("c", x_of({8}, 90));
  ir::Value* bn = b.op("BatchNormalization", {x, s, c, c, b.initializer("v", test::random_doubles({8}, 91, 0.5, 1.5))});
  ir::Value* ln = b.op("LayerNormalization", {bn, b.initializer("g", x_of({32}, 92))});
  ir::Value* up = b.op("Resize", {ln, nullptr, b.initializer("k", Tensor::from_floats({4}, std::vector<float>{1, 1, 2, 1.5f}))},
                       {attr_s("mode", "linear")});
  ir::Value* pad = b.op("Pad", {up, b.initializer("p", test::int64s({8}, {0, 0, 1, 2, 0, 1, 0, 3}))}, {attr_s("mode", "reflect")});
  ir::Value* t = b.op("Transpose", {pad}, {attr_ints("perm", {0, 2, 3, 1})});
  ir::Value* sm = b.op("LogSoftmax", {t}, {attr_i("axis", -1)});
  b.output(b.op("ReduceMax", {sm, b.initializer("a", test::int64s({1}, {1}))}, {attr_i("keepdims", 0)}));
  ir::Value* gather = b.op("Gather", {ln, b.initializer("i", test::int64s({5}, {3, 0, 3, -1, 7}))}, {attr_i("axis", 3)});
  b.output(b.op("ReduceSum", {gather, b.initializer("a2", test::int64s({2}, {0, 3}))}, {}));
  std::vector<std::vector<Tensor>> results;
  for (int threads : {1, 4}) {
    kernels::ExecutorOptions eo;
    eo.training = true;
    eo.threads = threads;
    kernels::Executor exec(m, eo);
    kernels::Autodiff ad(m, {x, s});
    kernels::NamedTensors outs = exec.run({{"x", x_of({4, 8, 32, 32}, 93)}, {"s", x_of({8}, 94)}});
    kernels::NamedTensors douts;
    for (size_t k = 0; k < outs.size(); ++k) douts.emplace_back(outs[k].first, x_of(outs[k].second.shape(), 95 + k));
    results.push_back(ad.backward(exec, douts));
  }
  REQUIRE(results[0].size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    REQUIRE(results[0][i].dtype() == DType::kDouble);
    CHECK(results[0][i].equals(results[1][i]));
  }
}
