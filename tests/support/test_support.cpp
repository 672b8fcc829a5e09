#include "support/test_support.h"

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace scalec::test {

namespace fs = std::filesystem;

fs::path source_dir() { return SCALEC_SOURCE_DIR; }
fs::path testdata_dir() { return SCALEC_TESTDATA_DIR; }

std::vector<fs::path> testdata_models(const std::string& group) {
  std::vector<fs::path> out;
  fs::path root = testdata_dir() / group;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    fs::path m = e.path() / "model.onnx";
    if (fs::exists(m)) out.push_back(m);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> test_model_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(source_dir() / "test_models")) {
    if (e.path().extension() == ".onnx") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "scalec-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ir::Model empty_model(int64_t opset, const std::string& name) {
  ir::Model m;
  m.opset_imports = {{"", opset}};
  m.ir_version = 8;
  m.graph = std::make_unique<ir::Graph>(name);
  return m;
}

}  // namespace scalec::test
