#pragma once
// Shared helpers for scalec's C++ tests: paths to assets, self-cleaning temp folders, empty models.
#include <filesystem>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::test {

/// The repository root (for test_models/).
std::filesystem::path source_dir();
/// Debian's libonnx-testdata "data" folder.
std::filesystem::path testdata_dir();
/// Every model.onnx under testdata_dir()/<group> (node, pytorch-converted, ...), sorted.
std::vector<std::filesystem::path> testdata_models(const std::string& group);
/// The generated test models (test_models/*.onnx), sorted.
std::vector<std::filesystem::path> test_model_files();

/// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  /// Names of the entries in the folder (hidden ones included), sorted.
  std::vector<std::string> entries() const;

 private:
  std::filesystem::path path_;
};

/// A model with an empty graph `name`, default-domain opset `opset` and IR version 8, for tests that
/// build their graph with ir::GraphBuilder.
ir::Model empty_model(int64_t opset, const std::string& name = "g");

/// Whole file as bytes.
std::string read_bytes(const std::filesystem::path& p);
/// Writes bytes to a file (test set-up only).
void write_bytes(const std::filesystem::path& p, const std::string& bytes);

}  // namespace scalec::test
