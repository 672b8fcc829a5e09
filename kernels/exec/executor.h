#pragma once
// Executor: runs a graph forward on the CPU, node by node in topological order, releasing each
// activation once its last consumer has run. Taps let calibration observe any value.
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::kernels {

class ThreadPool;
struct OpDef;

/// Named tensors, in order (model inputs or outputs).
using NamedTensors = std::vector<std::pair<std::string, ir::Tensor>>;

/// How an Executor runs.
struct ExecutorOptions {
  int threads = 0;        ///< 0: the CPUs this process may use
  /// Training runs: BatchNormalization uses batch statistics, Dropout drops, and every node's
  /// inputs and outputs stay alive on the tape for the backward pass.
  bool training = false;
};

/// One node of the last training run: its inputs (null where omitted) and every tensor its
/// kernel returned (also extras the node does not declare, such as new running statistics).
struct TapeEntry {
  const ir::Node* node;
  const OpDef* op;
  int64_t opset;
  std::vector<ir::Tensor> inputs;
  std::vector<bool> input_given;
  std::vector<ir::Tensor> outputs;
};

/// Memory an Executor run used.
struct RunStats {
  size_t peak_activation_bytes = 0;  ///< largest sum of live activation bytes (weights excluded)
};

/// Runs one model's main graph. Construction resolves every node to a kernel, so an op scalec
/// cannot run is reported before any work (Error kBadInput naming op, node and opset).
class Executor {
 public:
  Executor(const ir::Model& model, const ExecutorOptions& options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// Called with every value a tapped node produces, right after it is computed.
  using Tap = std::function<void(const ir::Value& value, const ir::Tensor& tensor)>;
  /// Observes `value` (any value of the main graph) on every run.
  void add_tap(const ir::Value* value, Tap tap);

  /// Runs the graph. `feeds` must name every graph input that has no initializer; returns the
  /// graph outputs in order. `seed` drives Dropout in training runs.
  NamedTensors run(const NamedTensors& feeds, uint64_t seed = 0);
  const RunStats& last_stats() const { return stats_; }
  /// The nodes of the last training run, in execution order (empty for inference runs).
  const std::vector<TapeEntry>& tape() const { return tape_; }
  /// Drops the tape (and the activations it holds) once the backward pass is done.
  void clear_tape() { tape_.clear(); }
  bool training() const { return options_.training; }
  ThreadPool& pool() { return *pool_; }
  /// Threads the pool runs on.
  int pool_threads() const;

 private:
  struct Step;
  const ir::Model& model_;
  ExecutorOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<TapeEntry> tape_;
  std::vector<Step> steps_;
  std::map<const ir::Value*, std::vector<Tap>> taps_;
  RunStats stats_;
};

}  // namespace scalec::kernels
