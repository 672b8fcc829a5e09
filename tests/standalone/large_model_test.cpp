// A model over 2 GB: one initializer of 2.1 GB in external data on a sparse file. It loads
// mapped (no copy), saves to a new external data file beside the output, and reloads with the
// sentinel values intact. Skipped (exit 77) when the disk cannot hold it.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "ir/error.h"
#include "onnx_io/model_io.h"

namespace fs = std::filesystem;
using namespace scalec;

namespace {
constexpr int64_t kElements = (int64_t{1} << 29) + 1024;  // 2.15 GB of float32
constexpr size_t kBytes = static_cast<size_t>(kElements) * 4;

int fail(const std::string& what) {
  std::printf("FAILED: %s\n", what.c_str());
  return 1;
}

void write_floats_at(const std::string& path, size_t offset, const float* v, size_t n) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0 || ::pwrite(fd, v, n * 4, static_cast<off_t>(offset)) != static_cast<ssize_t>(n * 4)) {
    throw std::runtime_error("pwrite failed");
  }
  ::close(fd);
}

long peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}
}  // namespace

int main() {
  fs::path dir = fs::temp_directory_path() / ("scalec-large-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct statvfs vfs {};
  ::statvfs(dir.c_str(), &vfs);
  // Sparse files need little space, but a file system without holes would need all of it.
  unsigned long long free_bytes = static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes < 512ull << 20) {
    std::printf("SKIPPED: only %llu MB free under %s\n", free_bytes >> 20, dir.c_str());
    fs::remove_all(dir);
    return 77;
  }
  int rc = 0;
  try {
    // The input: a sparse weights file with sentinels at the start and end.
    std::string data = (dir / "big.onnx.data").string();
    {
      int fd = ::open(data.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
      if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(kBytes)) != 0) return fail("cannot create sparse file");
      ::close(fd);
    }
    const float head[3] = {1.5f, -2.0f, 3.25f};
    const float tail[2] = {7.0f, -8.5f};
    write_floats_at(data, 0, head, 3);
    write_floats_at(data, kBytes - 8, tail, 2);

    ir::Model m;
    m.ir_version = 8;
    m.opset_imports.push_back({"", 13});
    m.graph = std::make_unique<ir::Graph>("big");
    auto file = ir::MappedFile::open(data);
    ir::Value* w = m.graph->add_initializer("w", ir::Tensor(ir::DType::kFloat, {kElements}, ir::Storage::map(file, 0, kBytes)));
    ir::Value* x = m.graph->create_value("x");
    x->type = ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{kElements});
    m.graph->inputs.push_back(x);
    ir::Value* y = m.graph->create_value("y");
    y->type = x->type;
    m.graph->add_node("Add", {x, w}, {y});
    m.graph->outputs.push_back(y);
    onnx_io::save_model(m, (dir / "big.onnx").string());  // auto: the tensor is mapped -> external

    // Reload: mapped, not copied.
    long rss_before = peak_rss_mb();
    ir::Model loaded = onnx_io::load_model((dir / "big.onnx").string());
    const ir::Tensor& t = *loaded.graph->initializers.at(0)->initializer;
    if (!t.storage()->is_mapped()) rc = fail("weights were copied, not mapped");
    if (t.numel() != kElements) rc = fail("wrong element count");
    auto v = t.values<float>();
    if (v[0] != 1.5f || v[2] != 3.25f || v[kElements - 1] != -8.5f || v[kElements / 2] != 0.0f) {
      rc = fail("sentinel values lost");
    }
    long rss_after = peak_rss_mb();
    // Save again into another folder: data goes to a new file beside the output.
    fs::create_directories(dir / "out");
    onnx_io::save_model(loaded, (dir / "out/copy.onnx").string());
    if (!fs::exists(dir / "out/copy.onnx.data")) rc = fail("no external data beside the output");
    if (fs::file_size(dir / "out/copy.onnx.data") < kBytes) rc = fail("external data file too short");
    ir::Model again = onnx_io::load_model((dir / "out/copy.onnx").string());
    auto v2 = again.graph->initializers.at(0)->initializer->values<float>();
    if (v2[1] != -2.0f || v2[kElements - 2] != 7.0f) rc = fail("sentinels lost after second save");
    std::printf("2.15 GB model: load+save+reload ok; peak RSS grew %ld MB on load (mapped)\n", rss_after - rss_before);
  } catch (const std::exception& e) {
    rc = fail(e.what());
  }
  fs::remove_all(dir);
  return rc;
}
