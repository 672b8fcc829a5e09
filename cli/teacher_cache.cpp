#include "cli/teacher_cache.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "kernels/exec/executor.h"

namespace scalec::cli {

namespace {

// FNV-1a 64 of a file's bytes: identifies the teacher and the data without trusting names or mtimes.
std::string file_hash(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_bad_input("cannot read '{}'", path);
  uint64_t h = 1469598103934665603ull;
  std::vector<char> buf(1 << 20);
  while (f.read(buf.data(), static_cast<std::streamsize>(buf.size())) || f.gcount() > 0) {
    const std::streamsize n = f.gcount();
    for (std::streamsize i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(buf[static_cast<size_t>(i)])) * 1099511628211ull;
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

// The teacher's logits on every sample, a batch of 256 at a time, inference mode.
ir::Tensor run_teacher(const ir::Model& teacher, const Dataset& d, const std::string& output, int threads) {
  kernels::ExecutorOptions eo;
  eo.threads = threads;
  kernels::Executor exec(teacher, eo);
  std::vector<float> all;
  int64_t classes = 0;
  for (int64_t b = 0; b < d.samples; b += 256) {
    const int64_t end = std::min(d.samples, b + 256);
    kernels::NamedTensors outs = exec.run(batch_of(d, b, end));
    const ir::Tensor* t = &outs.front().second;
    for (const auto& [n, v] : outs) {
      if (n == output) t = &v;
    }
    classes = t->shape()[1];
    for (int64_t i = 0; i < (end - b) * classes; ++i) all.push_back(static_cast<float>(t->element_as_double(i)));
  }
  ir::Tensor r(ir::DType::kFloat, {d.samples, classes});
  std::copy(all.begin(), all.end(), r.mutable_values<float>().begin());
  return r;
}

}  // namespace

ir::Tensor cached_teacher_logits(const std::string& dir, const std::string& teacher_path, const ir::Model& teacher,
                                 const std::string& data_path, const Dataset& data, const std::string& output,
                                 int threads) {
  namespace fs = std::filesystem;
  const fs::path header = fs::path(dir) / "teacher_logits.json", values = fs::path(dir) / "teacher_logits.f32";
  const nlohmann::json want = {{"teacher", file_hash(teacher_path)}, {"data", file_hash(data_path)},
                               {"teacher_output", output}, {"samples", data.samples}};
  if (fs::exists(header)) {
    nlohmann::json have;
    try {
      have = nlohmann::json::parse(std::ifstream(header));
    } catch (const nlohmann::json::exception& e) {
      throw_bad_input("--cache-teacher: '{}' is not a teacher cache header: {}", header.string(), e.what());
    }
    for (const auto& [key, what] : {std::pair{"teacher", "another teacher"}, std::pair{"data", "other data"},
                                    std::pair{"teacher_output", "another teacher output"},
                                    std::pair{"samples", "data with another sample count"}}) {
      if (!have.contains(key) || have[key] != want[key]) {
        throw_bad_input("--cache-teacher '{}' was made from {} ({} {}, this run's {}): use another folder or delete it", dir,
                        what, key, have.value(key, nlohmann::json()).dump(), want[key].dump());
      }
    }
    const int64_t classes = have.value("classes", int64_t{0});
    const uintmax_t bytes = fs::exists(values) ? fs::file_size(values) : 0;
    if (classes <= 0 || bytes != static_cast<uintmax_t>(data.samples * classes) * sizeof(float)) {
      throw_bad_input("--cache-teacher: '{}' does not hold {} x {} float32 logits", values.string(), data.samples, classes);
    }
    ir::Tensor r(ir::DType::kFloat, {data.samples, classes});
    std::ifstream(values, std::ios::binary).read(reinterpret_cast<char*>(r.mutable_values<float>().data()), static_cast<std::streamsize>(bytes));
    spdlog::info("--cache-teacher: {} teacher logits per sample read from {}", classes, values.string());
    return r;
  }
  ir::Tensor r = run_teacher(teacher, data, output, threads);
  const int64_t classes = r.shape()[1];
  fs::create_directories(dir);
  // written beside, then renamed: a killed run leaves no half cache behind a valid header
  const fs::path tmp = values.string() + ".part";
  std::ofstream(tmp, std::ios::binary).write(reinterpret_cast<const char*>(r.values<float>().data()),
                                             static_cast<std::streamsize>(data.samples * classes * sizeof(float)));
  fs::rename(tmp, values);
  nlohmann::json h = want;
  h["classes"] = classes;
  h["k"] = classes;  // every logit is stored (no top-k)
  h["dtype"] = "float32";
  std::ofstream(header) << h.dump(2) << "\n";
  spdlog::info("--cache-teacher: {} teacher logits per sample stored in {}", classes, values.string());
  return r;
}

}  // namespace scalec::cli
