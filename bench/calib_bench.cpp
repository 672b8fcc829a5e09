// calib_bench: peak memory of streaming calibration, for bench/calib_memory.py.
//   calib_bench MODEL DATA.npz --samples N [--method entropy] [--batch 32] [--threads T] [--load rows|whole]
//               [--trace-rss]
// Calibrates every node output (and the graph inputs) of MODEL on the first N rows of DATA and
// prints one JSON line: peak RSS (getrusage ru_maxrss), observer bytes, the Executor's peak
// activation bytes and wall time. `--load rows` streams batches with NpzRowReader (what
// `scalec quantize` is meant to do); `--load whole` reads the arrays with read_npz first, the
// memory-hungry way, for contrast.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "calibration/calibrator.h"
#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "onnx_io/npz_rows.h"

namespace {

using namespace scalec;

// Resident memory now, from /proc/self/statm (its second field counts pages).
double current_rss_mib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double peak_rss_mib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

ir::Tensor rows_of(const ir::Tensor& t, int64_t b, int64_t e) {
  std::vector<int64_t> shape = t.shape();
  const size_t row = t.storage_bytes() / static_cast<size_t>(shape[0]);
  shape[0] = e - b;
  ir::Tensor out(t.dtype(), shape);
  std::copy_n(t.bytes().data() + static_cast<size_t>(b) * row, out.storage_bytes(), out.mutable_bytes().data());
  return out;
}

void run(const std::string& model_path, const std::string& data_path, int64_t samples, const std::string& method,
         int64_t batch, int threads, const std::string& load, bool trace_rss) {
  const auto t0 = std::chrono::steady_clock::now();
  ir::Model model = onnx_io::load_model(model_path);
  std::vector<std::string> inputs, values;
  for (const ir::Value* v : model.graph->inputs) {
    if (v->is_initializer()) continue;
    inputs.push_back(v->name());
    values.push_back(v->name());
  }
  for (const auto& n : model.graph->nodes()) {
    for (const ir::Value* v : n->outputs()) {
      if (v != nullptr) values.push_back(v->name());
    }
  }
  calibration::BatchSource source;
  std::vector<onnx_io::NamedTensor> whole;
  std::unique_ptr<onnx_io::NpzRowReader> reader;
  int64_t available = 0;
  if (load == "whole") {
    whole = onnx_io::read_npz(data_path);
    for (const auto& [name, t] : whole) {
      if (name == inputs.front()) available = t.shape().at(0);
    }
    source.batch = [&](int64_t b, int64_t e) {
      kernels::NamedTensors feeds;
      for (const auto& [name, t] : whole) {
        if (std::find(inputs.begin(), inputs.end(), name) != inputs.end()) feeds.emplace_back(name, rows_of(t, b, e));
      }
      return feeds;
    };
  } else {
    reader = std::make_unique<onnx_io::NpzRowReader>(data_path);
    const onnx_io::NpzMember* m = reader->find(inputs.front());
    if (m == nullptr) throw_bad_input("'{}' has no array named '{}'", data_path, inputs.front());
    available = m->shape.at(0);
    source.batch = [&](int64_t b, int64_t e) {
      kernels::NamedTensors feeds;
      for (const std::string& name : inputs) feeds.emplace_back(name, reader->read_rows(name, b, e));
      return feeds;
    };
  }
  if (samples > available) throw_bad_input("'{}' holds {} samples, {} asked", data_path, available, samples);
  source.samples = samples;
  // Resident memory before each batch is read (with --trace-rss), to tell a plateau from a creep.
  std::vector<double> rss_trace;
  if (trace_rss) {
    source.batch = [inner = source.batch, &rss_trace](int64_t b, int64_t e) {
      rss_trace.push_back(current_rss_mib());
      return inner(b, e);
    };
  }
  calibration::CalibrationOptions options;
  options.method = calibration::parse_method(method);
  options.batch = batch;
  options.threads = threads;
  const calibration::CalibrationResult r = calibration::calibrate(model, values, source, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json j = {{"samples", r.samples},
                      {"method", method},
                      {"batch", batch},
                      {"load", load},
                      {"values", r.ranges.size()},
                      {"observer_bytes", r.observer_bytes},
                      {"peak_activation_bytes", r.peak_activation_bytes},
                      {"peak_rss_mib", peak_rss_mib()},
                      {"seconds", seconds}};
  if (trace_rss) j["rss_mib_before_each_batch"] = rss_trace;
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"calib_bench: peak memory of streaming calibration (one JSON line on stdout)", "calib_bench"};
  std::string model, data, method = "entropy", load = "rows";
  int64_t samples = 100, batch = 32;
  int threads = 0;
  bool trace_rss = false;
  app.add_option("model", model, "ONNX model")->required();
  app.add_option("data", data, "Calibration .npz (arrays named after the model inputs)")->required();
  app.add_option("--samples", samples, "Samples to calibrate on (the first N rows)")->check(CLI::PositiveNumber);
  app.add_option("--method", method, "minmax, percentile, entropy or mse");
  app.add_option("--batch", batch, "Rows per Executor run")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  app.add_option("--load", load, "rows: NpzRowReader batches; whole: read_npz first")->check(CLI::IsMember({"rows", "whole"}));
  app.add_flag("--trace-rss", trace_rss, "Add the resident MiB before each batch");
  try {
    app.parse(argc, argv);
    run(model, data, samples, method, batch, threads, load, trace_rss);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "calib_bench: error: %s\n", e.what());
    return static_cast<int>(ExitCode::kUsage);
  } catch (const Error& e) {
    std::fprintf(stderr, "calib_bench: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "calib_bench: internal error: %s\n", e.what());
    return static_cast<int>(ExitCode::kInternal);
  }
}
