#pragma once
// NodeEvaluator: runs one node on inputs known before running (constant folding), with the same
// kernels and shape rules the Executor uses, so a folded value is exactly what a run computes.
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "ir/graph.h"

namespace scalec::kernels {

class ThreadPool;

/// Runs single nodes on given input tensors on the CPU.
class NodeEvaluator {
 public:
  /// threads <= 0: the CPUs this process may use.
  explicit NodeEvaluator(int threads = 0);
  ~NodeEvaluator();
  NodeEvaluator(const NodeEvaluator&) = delete;
  NodeEvaluator& operator=(const NodeEvaluator&) = delete;

  /// The output types the op's shape rule gives for these inputs (null where omitted); nullopt
  /// when scalec has no kernel or no shape rule for the op at `opset`.
  std::optional<std::vector<ir::TypeInfo>> infer(const ir::Node& node, int64_t opset,
                                                 std::span<const ir::Tensor* const> inputs) const;
  /// Every output the node declares, computed by the op's CPU kernel; throws Error as the kernel
  /// does, and Error(kBadInput) when scalec has no kernel for the op at `opset`.
  std::vector<ir::Tensor> run(const ir::Node& node, int64_t opset, std::span<const ir::Tensor* const> inputs);

 private:
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace scalec::kernels
