// calibrate(): ranges of tapped values on the test models against the Executor's own outputs,
// independence from the batch size (minmax) and from the sample count (observer bytes), data
// streamed through NpzRowReader, and the inputs it refuses by name.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <catch2/catch.hpp>

#include "calibration/calibrator.h"
#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/exec/executor.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "onnx_io/npz_rows.h"
#include "support/test_support.h"
#include "support/tolerance.h"

using namespace scalec;
using namespace scalec::calibration;
using Catch::Matchers::Contains;

namespace {

ir::Tensor random_rows(std::vector<int64_t> shape, uint32_t seed) {
  ir::Tensor t(ir::DType::kFloat, std::move(shape));
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : t.mutable_values<float>()) v = dist(gen);
  return t;
}

ir::Tensor slice_rows(const ir::Tensor& t, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = t.shape();
  const size_t row = t.storage_bytes() / static_cast<size_t>(shape[0]);
  shape[0] = end - begin;
  ir::Tensor out(t.dtype(), shape);
  std::copy_n(t.bytes().data() + static_cast<size_t>(begin) * row, out.storage_bytes(), out.mutable_bytes().data());
  return out;
}

// A BatchSource over one in-memory array fed as `input`.
BatchSource source(const ir::Tensor& data, const std::string& input = "input") {
  return {data.shape()[0], [data, input](int64_t b, int64_t e) {
            return kernels::NamedTensors{{input, slice_rows(data, b, e)}};
          }};
}

// Every node output of the main graph, plus its inputs.
std::vector<std::string> all_values(const ir::Model& m) {
  std::vector<std::string> names;
  for (const ir::Value* v : m.graph->inputs) names.push_back(v->name());
  for (const auto& n : m.graph->nodes()) {
    for (const ir::Value* v : n->outputs()) names.push_back(v->name());
  }
  return names;
}

// min/max per value from one Executor run over all rows at once.
std::map<std::string, Range> reference_minmax(const ir::Model& m, const ir::Tensor& data) {
  std::map<std::string, Range> out;
  kernels::Executor exec(m);
  auto fold = [&out](const std::string& name, const ir::Tensor& t) {
    auto v = t.values<float>();
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    out[name] = {*lo, *hi};
  };
  for (const auto& n : m.graph->nodes()) {
    for (const ir::Value* v : n->outputs()) exec.add_tap(v, [&](const ir::Value& val, const ir::Tensor& t) { fold(val.name(), t); });
  }
  fold("input", data);
  exec.run({{"input", data}});
  return out;
}

std::string model_path(const std::string& stem) { return (test::source_dir() / "test_models" / (stem + ".onnx")).string(); }

ir::Model small_model(bool record_int_type) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", 17});
  m.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("input", ir::DType::kFloat, std::vector<ir::Dim>{ir::Dim::named("N"), ir::Dim::of(3)});
  ir::Value* y = b.op("Log", {x});
  ir::Value* s = b.op("Shape", {y});
  b.output(y);
  b.output(s);
  b.initializer("w", ir::Tensor::from_floats({1}, std::vector<float>{1.0f}));
  if (record_int_type) s->type = ir::TypeInfo::tensor(ir::DType::kInt64, std::vector<int64_t>{2});
  return m;
}

}  // namespace

TEST_CASE("calibration: minmax on mlp.onnx equals the Executor's outputs, whatever the batch size", "[calibration]") {
  ir::Model m = onnx_io::load_model(model_path("mlp"));
  const ir::Tensor data = random_rows({50, 64}, 1);
  const std::vector<std::string> values = all_values(m);
  const auto ref = reference_minmax(m, data);
  CalibrationResult first;
  for (int64_t batch : {1, 7, 50, 64}) {
    CalibrationOptions options;
    options.batch = batch;
    options.symmetric = false;
    CalibrationResult r = calibrate(m, values, source(data), options);
    CAPTURE(batch);
    CHECK(r.samples == 50);
    REQUIRE(r.ranges.size() == values.size());
    for (const auto& [name, range] : r.ranges) {
      CAPTURE(name);
      // Rows are computed alike in every batch up to GEMM summation order.
      CHECK(test::near(range.min, ref.at(name).min, 1e-5, 1e-5));
      CHECK(test::near(range.max, ref.at(name).max, 1e-5, 1e-5));
      if (batch != 1) {  // the graph input is observed from the feeds: exactly the same whatever the batch
        if (name == "input") CHECK((range.min == first.ranges.at(name).min && range.max == first.ranges.at(name).max));
      }
    }
    CHECK(r.peak_activation_bytes > 0);
    if (batch == 1) first = r;
  }
  // The Relu outputs are one-signed: asymmetric minmax gives min 0.
  CHECK(first.ranges.at("/net/net.1/Relu_output_0").min == 0);
}

TEST_CASE("calibration: every method on resnet_bn.onnx with bounded observer state", "[calibration]") {
  ir::Model m = onnx_io::load_model(model_path("resnet_bn"));
  const ir::Tensor data = random_rows({40, 3, 16, 16}, 2);
  const std::vector<std::string> values = all_values(m);
  CalibrationOptions mm;
  mm.batch = 8;
  const CalibrationResult minmax = calibrate(m, values, source(data), mm);
  for (Method method : {Method::kPercentile, Method::kEntropy, Method::kMse}) {
    for (bool symmetric : {true, false}) {
      CalibrationOptions options;
      options.method = method;
      options.symmetric = symmetric;
      options.batch = 8;
      CAPTURE(method_name(method), symmetric);
      const CalibrationResult few = calibrate(m, values, source(slice_rows(data, 0, 8)), options);
      const CalibrationResult all = calibrate(m, values, source(data), options);
      CHECK(few.samples == 8);
      CHECK(all.samples == 40);
      CHECK(few.observer_bytes == all.observer_bytes);  // independent of the sample count
      CHECK(all.observer_bytes < values.size() * 40000);
      CHECK(few.peak_activation_bytes == all.peak_activation_bytes);  // one batch of 8 either way
      for (const auto& [name, range] : all.ranges) {
        CAPTURE(name);
        const Range bound = minmax.ranges.at(name);  // symmetric minmax: [-max|x|, max|x|]
        CHECK(range.min <= range.max);
        CHECK(range.max <= bound.max);
        CHECK(range.min >= bound.min);
        if (symmetric) CHECK(range.min == -range.max);
        if (name.find("Relu") != std::string::npos && !symmetric) CHECK(range.min >= 0);
      }
    }
  }
}

TEST_CASE("calibration: data streamed from an .npz through NpzRowReader", "[calibration]") {
  test::TempDir dir;
  const std::string path = (dir / "calib.npz").string();
  const ir::Tensor data = random_rows({33, 64}, 3);
  onnx_io::write_npz(path, {{"input", data}, {"labels", ir::Tensor::from_int64s({33}, std::vector<int64_t>(33, 1))}});
  onnx_io::NpzRowReader reader(path);
  BatchSource streamed{33, [&reader](int64_t b, int64_t e) {
                         return kernels::NamedTensors{{"input", reader.read_rows("input", b, e)}};
                       }};
  ir::Model m = onnx_io::load_model(model_path("mlp"));
  CalibrationOptions options;
  options.method = Method::kEntropy;
  options.batch = 10;
  const CalibrationResult a = calibrate(m, all_values(m), streamed, options);
  const CalibrationResult b = calibrate(m, all_values(m), source(data), options);
  REQUIRE(a.ranges.size() == b.ranges.size());
  for (const auto& [name, range] : a.ranges) {
    CAPTURE(name);
    CHECK(range.min == b.ranges.at(name).min);
    CHECK(range.max == b.ranges.at(name).max);
  }
}

TEST_CASE("calibration: missing, constant and integer values are refused by name", "[calibration][bad_input]") {
  const ir::Tensor data = random_rows({4, 3}, 4);
  auto refuse = [&](const ir::Model& m, const std::vector<std::string>& values, const CalibrationOptions& o = {}) {
    try {
      calibrate(m, values, source(data), o);
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kBadInput);
      return std::string(e.what());
    }
    FAIL("calibrate accepted the input");
    return std::string();
  };
  ir::Model m = small_model(false);
  CHECK_THAT(refuse(m, {"Log_0", "nope"}), Contains("no value named 'nope'"));
  CHECK_THAT(refuse(m, {"w"}), Contains("'w' is an initializer"));
  // The Shape output has no recorded type: refused when its int64 tensor arrives.
  CHECK_THAT(refuse(m, {"Shape_1"}), Contains("'Shape_1' is int64, not float"));
  ir::Model typed = small_model(true);  // recorded int64: refused before anything runs
  CHECK_THAT(refuse(typed, {"Shape_1"}), Contains("'Shape_1' is int64, not float"));
  CalibrationOptions bad;
  bad.batch = 0;
  CHECK_THAT(refuse(m, {"Log_0"}, bad), Contains("batch size"));
  bad = {};
  bad.bits = 1;
  CHECK_THAT(refuse(m, {"Log_0"}, bad), Contains("bits"));
  bad = {};
  bad.percentile = 0;
  CHECK_THAT(refuse(m, {"Log_0"}, bad), Contains("percentile"));
  CHECK_THROWS_WITH(calibrate(m, {"Log_0"}, BatchSource{0, source(data).batch}, {}), Contains("at least one sample"));
}

TEST_CASE("calibration: NaN and Inf are left out and counted", "[calibration]") {
  ir::Model m = small_model(false);
  ir::Tensor data = ir::Tensor::from_floats({2, 3}, std::vector<float>{0, 1, 2, 4, -1, 8});  // log: -inf, nan
  CalibrationOptions options;
  options.symmetric = false;
  for (Method method : {Method::kMinMax, Method::kEntropy}) {
    options.method = method;
    CalibrationResult r = calibrate(m, {"Log_0", "input"}, source(data), options);
    CHECK(r.nonfinite.at("Log_0") == 2);
    CHECK_FALSE(r.nonfinite.contains("input"));
    CHECK(test::near(r.ranges.at("Log_0").min, 0.0, 1e-6));
    CHECK(test::near(r.ranges.at("Log_0").max, std::log(8.0), 1e-6, 1e-6));
  }
}
