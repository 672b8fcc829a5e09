// CommitGroup: a command's outputs appear together at commit(), or not at all.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "onnx_io/file_util.h"
#include "support/test_support.h"

using namespace scalec;
namespace fs = std::filesystem;

namespace {
size_t entries(const fs::path& dir) { return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {})); }

void write(const fs::path& p, const std::string& text, onnx_io::CommitGroup* group) {
  onnx_io::AtomicFile f(p.string(), group);
  f.write(text);
  f.commit();
}
}  // namespace

TEST_CASE("a commit group renames its files only at commit()", "[io][commit]") {
  test::TempDir dir;
  onnx_io::CommitGroup group;
  write(dir / "a.onnx", "model", &group);
  write(dir / "r.json", "{}", &group);
  CHECK_FALSE(fs::exists(dir / "a.onnx"));
  CHECK_FALSE(fs::exists(dir / "r.json"));
  CHECK(entries(dir.path()) == 2);  // the two hidden temp files
  const std::string staged = group.current_path((dir / "a.onnx").string());
  CHECK(staged != (dir / "a.onnx").string());
  CHECK(fs::file_size(staged) == 5);
  group.commit();
  CHECK(fs::file_size(dir / "a.onnx") == 5);
  CHECK(fs::file_size(dir / "r.json") == 2);
  CHECK(entries(dir.path()) == 2);
  CHECK(group.current_path((dir / "a.onnx").string()) == (dir / "a.onnx").string());
}

TEST_CASE("an uncommitted commit group leaves nothing, and keeps what was there", "[io][commit]") {
  test::TempDir dir;
  std::ofstream(dir / "a.onnx") << "old";
  {
    onnx_io::CommitGroup group;
    write(dir / "a.onnx", "new model", &group);
    write(dir / "b.npz", "x", &group);
  }
  CHECK(entries(dir.path()) == 1);
  CHECK(fs::file_size(dir / "a.onnx") == 3);
}
