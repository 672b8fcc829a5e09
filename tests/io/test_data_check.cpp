// check_inputs_match: data arrays against a model's inputs (DESIGN.md, "Data files").
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "onnx_io/data_files.h"

using namespace scalec;
using Catch::Matchers::Contains;
using ir::Dim;
using ir::DType;
using onnx_io::NamedTensor;

namespace {

// Inputs: image float[N, 1, 8, 8], mask uint8[1, ?, 4] (axis 0 fixed at 1: any sample count),
// and an initializer listed as an input, which needs no array.
struct Model {
  ir::Graph g;
  Model() {
    auto* image = g.create_value("image");
    image->type = ir::TypeInfo::tensor(DType::kFloat, {Dim::named("N"), Dim::of(1), Dim::of(8), Dim::of(8)});
    auto* mask = g.create_value("mask");
    mask->type = ir::TypeInfo::tensor(DType::kUInt8, {Dim::of(1), Dim{}, Dim::of(4)});
    g.inputs = {image, mask, g.add_initializer("w", ir::Tensor(DType::kFloat, {2}))};
  }
};

std::vector<NamedTensor> good_arrays(int64_t n = 5) {
  return {{"image", ir::Tensor(DType::kFloat, {n, 1, 8, 8})},
          {"mask", ir::Tensor(DType::kUInt8, {n, 3, 4})},
          {"labels", ir::Tensor(DType::kInt64, {n})}};
}

std::string error_of(const ir::Graph& g, const std::vector<NamedTensor>& arrays, const std::string& labels = "labels") {
  try {
    onnx_io::check_inputs_match(g, arrays, labels, "data.npz");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    return e.what();
  }
  FAIL("the arrays were accepted");
  return {};
}

}  // namespace

TEST_CASE("data check: matching arrays pass", "[data]") {
  Model m;
  CHECK_NOTHROW(onnx_io::check_inputs_match(m.g, good_arrays(), "labels", "data.npz"));
  auto no_labels = good_arrays();
  no_labels.pop_back();
  CHECK_NOTHROW(onnx_io::check_inputs_match(m.g, no_labels, "labels", "data.npz"));
  auto other_key = good_arrays(0);  // zero samples are consistent too
  other_key.back() = {"y", other_key.back().second};
  CHECK_NOTHROW(onnx_io::check_inputs_match(m.g, other_key, "y", "data.npz"));
}

TEST_CASE("data check: missing and extra arrays", "[data]") {
  Model m;
  auto arrays = good_arrays();
  arrays.erase(arrays.begin());
  CHECK_THAT(error_of(m.g, arrays),
             Contains("'data.npz' has no array for the model's input 'image'; the file has 'mask', 'labels'"));
  CHECK_THAT(error_of(m.g, {}), Contains("inputs 'image', 'mask'; the file has no arrays"));
  arrays = good_arrays();
  arrays.emplace_back("extra", ir::Tensor(DType::kFloat, {5}));
  CHECK_THAT(error_of(m.g, arrays), Contains("'extra' is neither a model input ('image', 'mask') nor the labels"));
  CHECK_THAT(error_of(m.g, good_arrays(), "y"), Contains("'labels' is neither a model input"));
}

TEST_CASE("data check: dtype, rank and fixed dims", "[data]") {
  Model m;
  auto arrays = good_arrays();
  arrays[0].second = ir::Tensor(DType::kDouble, {5, 1, 8, 8});
  CHECK_THAT(error_of(m.g, arrays), Contains("array 'image' is float64 but the model's input 'image' is float"));
  arrays[0].second = ir::Tensor(DType::kFloat, {5, 64});
  CHECK_THAT(error_of(m.g, arrays), Contains("array 'image' is float32[5, 64] (rank 2)") && Contains("(rank 4)"));
  arrays[0].second = ir::Tensor(DType::kFloat, {5, 3, 8, 8});
  CHECK_THAT(error_of(m.g, arrays), Contains("axis 1 must be 1, not 3"));
  arrays = good_arrays();
  arrays[1].second = ir::Tensor(DType::kUInt8, {5, 9, 5});  // axis 1 is symbolic, axis 2 fixed at 4
  CHECK_THAT(error_of(m.g, arrays), Contains("array 'mask'") && Contains("axis 2 must be 4, not 5"));
}

TEST_CASE("data check: sample counts and labels", "[data]") {
  Model m;
  auto arrays = good_arrays();
  arrays[2].second = ir::Tensor(DType::kInt64, {4});
  CHECK_THAT(error_of(m.g, arrays),
             Contains("disagree on the number of samples (axis 0): 'image' has 5, 'labels' has 4"));
  arrays = good_arrays();
  arrays[1].second = ir::Tensor(DType::kUInt8, {6, 3, 4});
  CHECK_THAT(error_of(m.g, arrays), Contains("'image' has 5, 'mask' has 6"));
  arrays = good_arrays();
  arrays[2].second = ir::Tensor(DType::kInt64, {5, 1});
  CHECK_THAT(error_of(m.g, arrays), Contains("labels 'labels' must be an integer array of shape [N]") &&
                                        Contains("found int64[5, 1]"));
  arrays[2].second = ir::Tensor(DType::kFloat, {5});
  CHECK_THAT(error_of(m.g, arrays), Contains("found float32[5]"));
}

TEST_CASE("data check: sample axes (--whole, --batch-axis, --batch 0)", "[data]") {
  Model m;
  onnx_io::SampleAxes axes;
  axes.advice = "; ADVICE";
  auto arrays = good_arrays();
  arrays[1].second = ir::Tensor(DType::kUInt8, {1, 3, 4});  // one mask shared by the 5 samples
  CHECK_THAT(error_of(m.g, arrays), Contains("'image' has 5, 'mask' has 1"));
  try {
    onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", axes);
    FAIL("the arrays were accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Contains("'mask' has 1; ADVICE"));
  }
  axes.axes["mask"] = onnx_io::SampleAxes::kWhole;
  CHECK(onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", axes) == 5);
  // A whole array must fit the model's fixed dims on every axis, axis 0 included.
  arrays[1].second = ir::Tensor(DType::kUInt8, {2, 3, 4});
  try {
    onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", axes);
    FAIL("the arrays were accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Contains("axis 0 must be 1, not 2 (the array is not split along axis 0"));
  }
  // The mask counts its 5 samples on axis 1 (symbolic in the model).
  arrays[1].second = ir::Tensor(DType::kUInt8, {1, 5, 4});
  axes.axes["mask"] = 1;
  CHECK(onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", axes) == 5);
  arrays[1].second = ir::Tensor(DType::kUInt8, {1, 6, 4});
  try {
    onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", axes);
    FAIL("the arrays were accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Contains("disagree on the number of samples: 'image' has 5 (axis 0), 'mask' has 6 (axis 1)"));
  }
  axes.axes["mask"] = 3;
  try {
    onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", axes);
    FAIL("the arrays were accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK_THAT(e.what(), Contains("array 'mask' is uint8[1, 6, 4] (rank 3): it has no axis 3"));
  }
  // --batch 0: nothing is split, so counts need not agree; the labels' count is the sample count.
  onnx_io::SampleAxes as_given;
  as_given.none_split = true;
  arrays = good_arrays();
  arrays[0].second = ir::Tensor(DType::kFloat, {7, 1, 8, 8});
  arrays[1].second = ir::Tensor(DType::kUInt8, {1, 3, 4});
  CHECK(onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", as_given) == 5);
  arrays.pop_back();
  CHECK(onnx_io::check_inputs_match(m.g, arrays, "labels", "data.npz", as_given) == -1);
}
