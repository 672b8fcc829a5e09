// load -> save -> load keeps every model the same: the generated test models and every model in
// Debian's libonnx-testdata (opsets 1 to 17). ORT-level equality is checked in tests/py.
#include <catch2/catch.hpp>

#include "io/model_equal.h"
#include "ir/graph_builder.h"
#include "ir/error.h"
#include "onnx_io/model_io.h"
#include "support/test_support.h"

using namespace scalec;
namespace fs = std::filesystem;

namespace {

// Loads, saves to a temp folder, reloads; returns the difference ("" when none).
std::string round_trip(const fs::path& model, const test::TempDir& dir) {
  ir::Model a = onnx_io::load_model(model.string());
  fs::path out = dir / (model.parent_path().filename().string() + ".onnx");
  onnx_io::save_model(a, out.string());
  ir::Model b = onnx_io::load_model(out.string());
  std::string diff = test::model_difference(a, b);
  // A second save must give the same bytes (deterministic output).
  std::string first = test::read_bytes(out);
  onnx_io::save_model(b, out.string());
  if (diff.empty() && first != test::read_bytes(out)) diff = "second save gave different bytes";
  return diff;
}

void round_trip_group(const std::string& group) {
  auto models = test::testdata_models(group);
  REQUIRE(!models.empty());
  test::TempDir dir;
  int passed = 0;
  std::vector<std::string> failures;
  for (const auto& m : models) {
    try {
      std::string diff = round_trip(m, dir);
      if (diff.empty()) ++passed;
      else failures.push_back(m.parent_path().filename().string() + ": " + diff);
    } catch (const Error& e) {
      failures.push_back(m.parent_path().filename().string() + ": " + e.what());
    }
  }
  INFO(group << ": " << passed << " of " << models.size() << " round-tripped");
  for (const auto& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
  CHECK(passed == static_cast<int>(models.size()));
}

}  // namespace

TEST_CASE("round trip: generated test models") {
  test::TempDir dir;
  auto models = test::test_model_files();
  REQUIRE(models.size() >= 5);
  for (const auto& m : models) {
    INFO(m);
    ir::Model a = onnx_io::load_model(m.string());
    fs::path out = dir / m.filename().string();
    onnx_io::save_model(a, out.string());
    ir::Model b = onnx_io::load_model(out.string());
    CHECK(test::model_difference(a, b).empty());
    bool has_version = false;
    for (const auto& [k, v] : b.metadata_props) has_version |= (k == "scalec.version" && !v.empty());
    CHECK(has_version);
  }
}

TEST_CASE("round trip: libonnx-testdata node tests") { round_trip_group("node"); }
TEST_CASE("round trip: libonnx-testdata pytorch-converted") { round_trip_group("pytorch-converted"); }
TEST_CASE("round trip: libonnx-testdata pytorch-operator") { round_trip_group("pytorch-operator"); }
TEST_CASE("round trip: libonnx-testdata simple") { round_trip_group("simple"); }

TEST_CASE("round trip keeps dynamic dimensions and names") {
  ir::Model m = onnx_io::load_model((test::source_dir() / "test_models/lenet_digits.onnx").string());
  const ir::Value* in = m.graph->inputs.at(0);
  REQUIRE(in->type);
  REQUIRE(in->type->shape);
  CHECK((*in->type->shape)[0].param == "N");
  CHECK(in->name() == "input");
  CHECK(m.graph->outputs.at(0)->name() == "logits");
}

TEST_CASE("saving renames repeated node names, which ONNX Runtime refuses") {
  // A pass names its DequantizeLinear after the weight; a bias two Convs share gave two nodes of
  // one name, and ONNX Runtime would not load the quantized model.
  ir::Model m = test::empty_model(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, {ir::Dim::of(2)});
  ir::Value* y = b.op("Relu", {x});
  ir::Value* z = b.op("Relu", {y});
  ir::Value* w = b.op("Relu", {z});
  b.output(w);
  auto& nodes = m.graph->nodes();
  nodes[0]->name = "dq";
  nodes[1]->name = "dq";
  nodes[2]->name = "dq_1";  // the first free suffix skips names already taken
  const ir::Model back = onnx_io::load_model_from_bytes(onnx_io::serialize_model(m), ".", "mem");
  std::vector<std::string> names;
  for (const auto& n : back.graph->nodes()) names.push_back(n->name);
  CHECK(names == std::vector<std::string>{"dq", "dq_2", "dq_1"});
}
