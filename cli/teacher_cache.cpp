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

// The teacher's k largest logits per sample and their classes, a batch of 256 at a time, inference mode.
std::pair<ir::Tensor, ir::Tensor> run_teacher(const ir::Model& teacher, const Dataset& d, const std::string& output,
                                              int64_t top_k, int threads, int64_t& classes) {
  kernels::ExecutorOptions eo;
  eo.threads = threads;
  kernels::Executor exec(teacher, eo);
  std::vector<float> values;
  std::vector<int32_t> indices;
  std::vector<int32_t> order;
  int64_t k = 0;
  for (int64_t b = 0; b < d.samples; b += 256) {
    const int64_t end = std::min(d.samples, b + 256);
    kernels::NamedTensors outs = exec.run(batch_of(d, b, end));
    const ir::Tensor* t = &outs.front().second;
    for (const auto& [n, v] : outs) {
      if (n == output) t = &v;
    }
    classes = t->shape()[1];
    k = top_k > 0 ? std::min(top_k, classes) : default_cache_top_k(classes);
    order.resize(static_cast<size_t>(classes));
    for (int64_t i = 0; i < end - b; ++i) {
      auto logit = [&](int32_t c) { return t->element_as_double(i * classes + c); };
      for (int32_t c = 0; c < classes; ++c) order[static_cast<size_t>(c)] = c;
      if (k < classes) {  // the k largest, ties to the lower class: the same bytes every run
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t c) {
          return logit(a) > logit(c) || (logit(a) == logit(c) && a < c);
        });
      }
      for (int64_t j = 0; j < k; ++j) {
        values.push_back(static_cast<float>(logit(order[static_cast<size_t>(j)])));
        if (k < classes) indices.push_back(order[static_cast<size_t>(j)]);
      }
    }
  }
  ir::Tensor v(ir::DType::kFloat, {d.samples, k});
  std::copy(values.begin(), values.end(), v.mutable_values<float>().begin());
  ir::Tensor ix;
  if (k < classes) {
    ix = ir::Tensor(ir::DType::kInt32, {d.samples, k});
    std::copy(indices.begin(), indices.end(), ix.mutable_values<int32_t>().begin());
  }
  return {std::move(v), std::move(ix)};
}

// Reads `bytes` bytes of `path` into a fresh tensor of `dtype` and `shape` (exit 2 when the size differs).
ir::Tensor read_raw(const std::filesystem::path& path, ir::DType dtype, std::vector<int64_t> shape) {
  ir::Tensor t(dtype, shape);
  const uintmax_t want = t.bytes().size();
  const uintmax_t have = std::filesystem::exists(path) ? std::filesystem::file_size(path) : 0;
  if (have != want) {
    throw_bad_input("--cache-teacher: '{}' holds {} bytes, not the {} of {} {}", path.string(), have, want,
                    ir::shape_to_string(shape), ir::dtype_name(dtype));
  }
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(t.mutable_bytes().data()), static_cast<std::streamsize>(want));
  return t;
}

// Writes a tensor's bytes beside `path`, then renames: a killed run leaves no half file behind a valid header.
void write_raw(const std::filesystem::path& path, const ir::Tensor& t) {
  const std::filesystem::path tmp = path.string() + ".part";
  std::ofstream(tmp, std::ios::binary).write(reinterpret_cast<const char*>(t.bytes().data()), static_cast<std::streamsize>(t.bytes().size()));
  std::filesystem::rename(tmp, path);
}

}  // namespace

int64_t default_cache_top_k(int64_t classes) { return classes <= 1000 ? classes : 64; }

ir::Tensor TeacherCache::rows(std::span<const int64_t> rows) const {
  const int64_t k = this->k(), n = static_cast<int64_t>(rows.size());
  ir::Tensor out(ir::DType::kFloat, {n, classes_});
  auto o = out.mutable_values<float>();
  auto v = values_.values<float>();
  if (indices_.dtype() == ir::DType::kUndefined) {
    for (int64_t i = 0; i < n; ++i) std::copy_n(v.begin() + rows[i] * k, k, o.begin() + i * classes_);
    return out;
  }
  // Far below any logit, yet finite: exp() of it is 0 and 0 * log-probability stays 0 in the KL.
  std::fill(o.begin(), o.end(), -1e30f);
  auto ix = indices_.values<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < k; ++j) o[i * classes_ + ix[rows[i] * k + j]] = v[rows[i] * k + j];
  }
  return out;
}

TeacherCache cached_teacher_logits(const std::string& dir, const std::string& teacher_path, const ir::Model& teacher,
                                   const std::string& data_path, const Dataset& data, const std::string& output,
                                   int64_t top_k, int threads) {
  namespace fs = std::filesystem;
  const fs::path header = fs::path(dir) / "teacher_logits.json", values = fs::path(dir) / "teacher_logits.f32";
  const fs::path indices = fs::path(dir) / "teacher_indices.i32";
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
    const int64_t classes = have.value("classes", int64_t{0}), k = have.value("k", int64_t{0});
    if (classes <= 0 || k <= 0 || k > classes) throw_bad_input("--cache-teacher: '{}' names {} of {} logits", header.string(), k, classes);
    const int64_t k_wanted = top_k > 0 ? std::min(top_k, classes) : default_cache_top_k(classes);
    if (k != k_wanted) {
      throw_bad_input("--cache-teacher '{}' keeps the {} largest of {} logits, this run asks for {} (--cache-top-k): use another "
                      "folder or delete it", dir, k, classes, k_wanted);
    }
    ir::Tensor v = read_raw(values, ir::DType::kFloat, {data.samples, k});
    ir::Tensor ix = k < classes ? read_raw(indices, ir::DType::kInt32, {data.samples, k}) : ir::Tensor();
    for (int32_t c : k < classes ? ix.values<int32_t>() : std::span<const int32_t>()) {
      if (c < 0 || c >= classes) throw_bad_input("--cache-teacher: '{}' holds class {} of {}", indices.string(), c, classes);
    }
    spdlog::info("--cache-teacher: {} of {} teacher logits per sample read from {}", k, classes, values.string());
    return TeacherCache(std::move(v), std::move(ix), classes);
  }
  int64_t classes = 0;
  auto [v, ix] = run_teacher(teacher, data, output, top_k, threads, classes);
  const int64_t k = v.shape()[1];
  fs::create_directories(dir);
  write_raw(values, v);
  if (k < classes) write_raw(indices, ix);
  nlohmann::json h = want;
  h["classes"] = classes;
  h["k"] = k;
  h["dtype"] = "float32";
  std::ofstream(header) << h.dump(2) << "\n";
  spdlog::info("--cache-teacher: {} of {} teacher logits per sample stored in {}", k, classes, values.string());
  return TeacherCache(std::move(v), std::move(ix), classes);
}

}  // namespace scalec::cli
