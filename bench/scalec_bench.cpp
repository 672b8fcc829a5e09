// scalec_bench: CPU speed of scalec's own runtime, for bench/run_cpu.py.
//   scalec_bench sgemm --threads T                 fp32 GEMM GFLOP/s through kernels/cpu/gemm.h
//   scalec_bench model PATH --batch B --threads T [--seconds S] [--profile [--nodes N]]
// Each prints one JSON line on stdout; errors go to stderr with DESIGN.md's exit codes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/exec/executor.h"
#include "kernels/exec/fusion.h"
#include "onnx_io/model_io.h"

namespace {

using Clock = std::chrono::steady_clock;
using scalec::ir::DType;
using scalec::ir::Tensor;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Tensor random_floats(std::vector<int64_t> shape, std::mt19937& rng) {
  Tensor t(DType::kFloat, std::move(shape));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& x : t.mutable_values<float>()) x = dist(rng);
  return t;
}

/// Best GFLOP/s of `reps` square fp32 products of size n on the pool.
double sgemm_gflops(scalec::kernels::ThreadPool& pool, int64_t n, int reps) {
  std::mt19937 rng(1);
  Tensor a = random_floats({n, n}, rng), b = random_floats({n, n}, rng), c(DType::kFloat, {n, n});
  scalec::kernels::GemmArgs<float> g;
  g.m = g.n = g.k = n;
  g.a = a.values<float>().data();
  g.b = b.values<float>().data();
  g.c = c.mutable_values<float>().data();
  g.lda = g.ldb = g.ldc = n;
  scalec::kernels::gemm_parallel(pool, g);  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    scalec::kernels::gemm_parallel(pool, g);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(n * n * n) / best / 1e9;
}

void run_sgemm(int threads) {
  scalec::kernels::ThreadPool pool(threads);
  nlohmann::json j;
  j["bench"] = "sgemm";
  j["threads"] = pool.threads();
  for (int64_t n : {1024, 2048}) j["gflops_" + std::to_string(n)] = sgemm_gflops(pool, n, n <= 1024 ? 10 : 5);
  std::printf("%s\n", j.dump().c_str());
}

/// Seeded random feeds for every graph input without an initializer; a dimension the model
/// leaves symbolic is the batch (axis 0 only).
scalec::kernels::NamedTensors random_feeds(const scalec::ir::Model& model, int64_t batch) {
  std::mt19937 rng(12345);
  scalec::kernels::NamedTensors feeds;
  for (const scalec::ir::Value* v : model.graph->inputs) {
    if (v->is_initializer()) continue;
    if (!v->type || !v->type->shape || v->type->dtype() != DType::kFloat) {
      scalec::throw_bad_input("input '{}': the benchmark needs a float input with a recorded shape", v->name());
    }
    std::vector<int64_t> shape;
    for (size_t i = 0; i < v->type->shape->size(); ++i) {
      const scalec::ir::Dim& d = (*v->type->shape)[i];
      if (!d.value && i != 0) scalec::throw_bad_input("input '{}': symbolic dimension {} is not the batch", v->name(), i);
      shape.push_back(d.value ? *d.value : batch);
    }
    feeds.emplace_back(v->name(), random_floats(shape, rng));
  }
  return feeds;
}

/// Per-op-type wall time from taps: each node's first output is tapped right after the node
/// runs, so the time between consecutive taps is that node's kernel plus the Executor's work
/// before it, chiefly freeing what the previous node was the last to read (large at batch 32).
struct OpProfile {
  std::vector<std::string> op_types;  ///< one slot per op type
  std::vector<double> seconds;        ///< summed over runs, per slot
  std::vector<std::string> node_labels;  ///< per tapped node: op type, name and output shape
  std::vector<double> node_seconds;      ///< summed over runs, per tapped node
  Clock::time_point last;
  double overhead = 0;  ///< after the last tap until run() returns

  void attach(scalec::kernels::Executor& exec, const scalec::ir::Model& model) {
    const scalec::ir::Graph& g = *model.graph;
    std::map<std::string, size_t> slot;
    // A tap inside a fusion would keep it from fusing: the fused time goes to the chain's last node.
    std::set<const scalec::ir::Value*> fused_inside;
    for (const auto& n : g.nodes()) {
      if (auto f = scalec::kernels::plan_fusion(model, *n)) {
        for (const auto* v : scalec::kernels::fusion_internal_values(*n, *f)) fused_inside.insert(v);
      }
    }
    for (const auto& n : g.nodes()) {
      auto it = std::find_if(n->outputs().begin(), n->outputs().end(), [](auto* v) { return v != nullptr; });
      if (it == n->outputs().end()) continue;
      if (fused_inside.contains(*it)) continue;
      auto [s, added] = slot.try_emplace(n->op_type(), op_types.size());
      if (added) {
        op_types.push_back(n->op_type());
        seconds.push_back(0);
      }
      size_t index = s->second, node = node_labels.size();
      node_labels.push_back(n->op_type() + " " + n->name);
      node_seconds.push_back(0);
      exec.add_tap(*it, [this, index, node](const scalec::ir::Value&, const Tensor& t) {
        auto now = Clock::now();
        double dt = std::chrono::duration<double>(now - last).count();
        seconds[index] += dt;
        node_seconds[node] += dt;
        if (node_labels[node].back() != ']') node_labels[node] += " " + scalec::ir::shape_to_string(t.shape());
        last = now;
      });
    }
  }
  nlohmann::json ms_per_batch(int runs) const {
    nlohmann::json j = nlohmann::json::object();
    for (size_t i = 0; i < op_types.size(); ++i) j[op_types[i]] = 1e3 * seconds[i] / runs;
    j["(after last node)"] = 1e3 * overhead / runs;
    return j;
  }
  /// The `top` slowest nodes, one line each on stderr: ms per batch, op type, name, output shape.
  void print_nodes(int runs, size_t top) const {
    std::vector<size_t> order(node_labels.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return node_seconds[a] > node_seconds[b]; });
    for (size_t i = 0; i < std::min(top, order.size()); ++i) {
      std::fprintf(stderr, "%9.3f ms  %s\n", 1e3 * node_seconds[order[i]] / runs, node_labels[order[i]].c_str());
    }
  }
};

void run_model(const std::string& path, int64_t batch, int threads, double seconds, bool profile, size_t top_nodes) {
  scalec::ir::Model model = scalec::onnx_io::load_model(path);
  scalec::kernels::ExecutorOptions options;
  options.threads = threads;
  scalec::kernels::Executor exec(model, options);
  scalec::kernels::NamedTensors feeds = random_feeds(model, batch);

  // Warm-up: at least one run, and up to a tenth of the budget (first-touch, caches, clocks).
  auto warm = Clock::now();
  do exec.run(feeds);
  while (seconds_since(warm) < 0.1 * seconds);

  OpProfile prof;
  if (profile) prof.attach(exec, model);
  std::vector<double> times;
  auto start = Clock::now();
  while (times.size() < 3 || seconds_since(start) < seconds) {
    auto t0 = Clock::now();
    prof.last = t0;
    exec.run(feeds);
    auto t1 = Clock::now();
    prof.overhead += std::chrono::duration<double>(t1 - prof.last).count();
    times.push_back(std::chrono::duration<double>(t1 - t0).count());
  }
  double med = median(times);
  nlohmann::json j;
  j["model"] = path;
  j["batch"] = batch;
  j["threads"] = exec.pool_threads();
  j["samples_per_s"] = static_cast<double>(batch) / med;  // from the median: robust to a busy machine
  j["ms_per_batch_median"] = 1e3 * med;
  j["runs"] = times.size();
  j["peak_activation_bytes"] = exec.last_stats().peak_activation_bytes;
  if (profile) j["profile_ms_per_batch"] = prof.ms_per_batch(static_cast<int>(times.size()));
  if (profile) prof.print_nodes(static_cast<int>(times.size()), top_nodes);
  std::printf("%s\n", j.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scalec_bench: CPU speed of scalec's GEMM and Executor (one JSON line on stdout)", "scalec_bench"};
  app.require_subcommand(1);
  int threads = 0;
  CLI::App* sgemm = app.add_subcommand("sgemm", "fp32 GEMM GFLOP/s, square 1024 and 2048, best of several");
  sgemm->add_option("--threads", threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  std::string path;
  int64_t batch = 1;
  double seconds = 5;
  bool profile = false;
  size_t top_nodes = 0;
  CLI::App* model = app.add_subcommand("model", "Executor samples/s on seeded random input");
  model->add_option("model", path, "ONNX model")->required();
  model->add_option("--batch", batch, "Samples per run (the model's symbolic axis 0)")->check(CLI::PositiveNumber);
  model->add_option("--threads", threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  model->add_option("--seconds", seconds, "Timed budget after warm-up (at least 3 runs)")->check(CLI::NonNegativeNumber);
  model->add_flag("--profile", profile, "Add per-op-type ms per batch (from taps on every node)");
  model->add_option("--nodes", top_nodes, "With --profile: print the N slowest nodes on stderr");
  try {
    app.parse(argc, argv);
    if (*sgemm) run_sgemm(threads);
    if (*model) run_model(path, batch, threads, seconds, profile, top_nodes);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "scalec_bench: error: %s\n", e.what());
    return static_cast<int>(scalec::ExitCode::kUsage);
  } catch (const scalec::Error& e) {
    std::fprintf(stderr, "scalec_bench: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scalec_bench: internal error: %s\n", e.what());
    return static_cast<int>(scalec::ExitCode::kInternal);
  }
}
