// Bad models fail to load with Error(kBadInput) and a message that names the problem.
// (The CLI-level checks — exit codes, untouched inputs, no partial outputs — are in tests/py.)
#include <random>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "onnx_io/model_io.h"
#include "support/test_support.h"

using namespace scalec;
using Catch::Matchers::Contains;

namespace {

ir::Model small_model(int64_t opset = 13) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", opset});
  m.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 4});
  std::vector<float> wv(4 * 3, 0.5f);
  ir::Value* w = b.initializer("weights_1", ir::Tensor::from_floats({4, 3}, wv));
  b.output(b.op("MatMul", {x, w}), ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 3}));
  return m;
}

// Loads bytes and returns the error (or fails the test when loading succeeds).
Error load_error(const std::string& bytes, const std::string& base_dir = ".") {
  try {
    onnx_io::load_model_from_bytes(bytes, base_dir, "model.onnx");
  } catch (const Error& e) {
    return e;
  }
  FAIL("model loaded but should have been refused");
  return Error(ExitCode::kOk, "");
}

void replace_same_length(std::string& bytes, const std::string& from, const std::string& to) {
  REQUIRE(from.size() == to.size());
  auto pos = bytes.find(from);
  REQUIRE(pos != std::string::npos);
  bytes.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("bad model: empty, random and truncated bytes") {
  CHECK_THAT(load_error("").what(), Contains("empty"));
  std::mt19937 rng(7);
  for (size_t n : {1u, 17u, 1000u, 65536u}) {
    std::string junk(n, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    Error e = load_error(junk);
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK_THAT(e.what(), Contains("not a valid ONNX model"));
  }
  std::string good = onnx_io::serialize_model(small_model());
  for (size_t cut : {good.size() / 10, good.size() / 2, good.size() * 9 / 10, good.size() - 1}) {
    INFO("cut at " << cut << " of " << good.size());
    Error e = load_error(good.substr(0, cut));
    CHECK(e.code() == ExitCode::kBadInput);
  }
}

TEST_CASE("bad model: a node reads a value nothing defines") {
  ir::Model m = small_model();
  ir::Value* w = m.graph->initializers.front();
  m.graph->initializers.clear();
  w->initializer.reset();  // the MatMul still reads "weights_1", now undefined
  Error e = load_error(onnx_io::serialize_model(m));
  CHECK(e.code() == ExitCode::kBadInput);
  CHECK_THAT(e.what(), Contains("weights_1") && Contains("defines"));
}

TEST_CASE("bad model: cycle") {
  ir::Model m = small_model();
  ir::Graph& g = *m.graph;
  ir::Value* a = g.create_value("a");
  ir::Value* b = g.create_value("b");
  g.add_node("Relu", {b}, {a})->name = "first";
  g.add_node("Relu", {a}, {b})->name = "second";
  Error e = load_error(onnx_io::serialize_model(m));
  CHECK_THAT(e.what(), Contains("cycle"));
}

TEST_CASE("bad model: unsupported opset and IR version") {
  CHECK_THAT(load_error(onnx_io::serialize_model(small_model(99))).what(), Contains("unsupported opset 99"));
  ir::Model m = small_model();
  m.ir_version = 99;
  CHECK_THAT(load_error(onnx_io::serialize_model(m)).what(), Contains("unsupported IR version 99"));
}

TEST_CASE("bad model: duplicate value names break SSA") {
  ir::Model m = small_model();
  ir::Graph& g = *m.graph;
  ir::Value* again = g.create_value("x");  // same name as the graph input
  g.add_node("Relu", {g.inputs[0]}, {again});
  CHECK_THAT(load_error(onnx_io::serialize_model(m)).what(), Contains("duplicate name 'x'"));
}

TEST_CASE("external data: saved beside the output, mapped on load") {
  test::TempDir dir;
  std::string path = (dir / "m.onnx").string();
  onnx_io::SaveOptions opts;
  opts.external_data = onnx_io::ExternalData::kAlways;
  opts.external_threshold = 0;
  onnx_io::save_model(small_model(), path, opts);
  CHECK(std::filesystem::exists(dir / "m.onnx.data"));
  ir::Model m = onnx_io::load_model(path);
  const ir::Tensor& w = *m.graph->initializers.at(0)->initializer;
  CHECK(w.storage()->is_mapped());
  CHECK(w.values<float>()[11] == 0.5f);
  // Writing to a mapped tensor copies first; the file stays as it was.
  std::string before = test::read_bytes(dir / "m.onnx.data");
  ir::Tensor copy = w;
  copy.mutable_values<float>()[0] = 9.0f;
  CHECK(test::read_bytes(dir / "m.onnx.data") == before);
  // Saving the loaded model over itself (auto mode keeps external data) leaves a valid pair.
  onnx_io::save_model(m, path);
  CHECK(onnx_io::load_model(path).graph->initializers.at(0)->initializer->values<float>()[3] == 0.5f);
  CHECK(dir.entries() == std::vector<std::string>{"m.onnx", "m.onnx.data"});
}

TEST_CASE("external data: paths that leave the model's folder are refused") {
  test::TempDir dir;
  onnx_io::SaveOptions opts;
  opts.external_data = onnx_io::ExternalData::kAlways;
  opts.external_threshold = 0;
  onnx_io::save_model(small_model(), (dir / "m.onnx").string(), opts);
  std::string bytes = test::read_bytes(dir / "m.onnx");
  for (const std::string& evil : {std::string("/etc/passwd"), std::string("../m.onnx.d")}) {
    std::string b = bytes;
    replace_same_length(b, "m.onnx.data", evil);
    Error e = load_error(b, dir.path().string());
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK_THAT(e.what(), Contains("refused") && Contains(evil));
  }
  std::string missing = bytes;
  replace_same_length(missing, "m.onnx.data", "nothere.dat");
  CHECK_THAT(load_error(missing, dir.path().string()).what(), Contains("nothere.dat"));
  // A data file too short for the tensor.
  test::write_bytes(dir / "m.onnx.data", "short");
  CHECK_THAT(load_error(bytes, dir.path().string()).what(), Contains("holds 5 bytes"));
}

TEST_CASE("save: unwritable outputs fail with an I/O error and leave nothing behind") {
  test::TempDir dir;
  ir::Model m = small_model();
  auto io_error = [&](const std::string& path) {
    try {
      onnx_io::save_model(m, path);
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kIoError);
      return std::string(e.what());
    }
    FAIL("save to " << path << " succeeded");
    return std::string();
  };
  CHECK_THAT(io_error((dir / "missing/out.onnx").string()), Contains("does not exist"));
  std::filesystem::create_directories(dir / "folder");
  CHECK_THAT(io_error((dir / "folder").string()), Contains("folder"));
  CHECK_THAT(io_error("/dev/full"), Contains("No space left"));
  CHECK(dir.entries() == std::vector<std::string>{"folder"});
  CHECK(std::filesystem::is_character_file("/dev/full"));
}
