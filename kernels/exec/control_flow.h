#pragma once
// Control flow: If, Loop and Scan (ai.onnx), whose subgraphs read values of the graphs around them.
// The Executor runs them here instead of through a kernel: each subgraph runs node by node with its
// own values, its inputs bound per branch, iteration or scan step, and every other name resolved in
// the enclosing scopes. Forward only (training does not differentiate through them yet).
#include <functional>
#include <span>
#include <vector>

#include "ir/graph.h"

namespace scalec::kernels {

class ThreadPool;

/// The values of the enclosing graphs as the running graph sees them (null: not computed there).
using OuterScope = std::function<const ir::Tensor*(const ir::Value*)>;

/// True for If, Loop (opset 1+) and Scan (opset 9+) of ai.onnx.
bool is_control_flow(const ir::Node& n, int64_t opset);

/// Values of enclosing graphs that `n`'s subgraphs read: uses of `n` for the executor's bookkeeping.
std::vector<const ir::Value*> subgraph_outer_reads(const ir::Node& n);

/// Checks that every node of `n`'s subgraphs (nested ones too) has a kernel; Error(kBadInput)
/// naming the first that does not.
void check_control_flow(const ir::Model& model, const ir::Node& n);

/// The output types of If, Loop or Scan node `n` from its subgraphs' recorded output types and its
/// input types (null where omitted): dims the branches or iterations disagree on are left unknown.
std::vector<ir::TypeInfo> control_flow_types(const ir::Node& n, std::span<const ir::TypeInfo* const> inputs);

/// Runs If, Loop or Scan node `n` on `inputs` (null where omitted); returns its outputs in order.
std::vector<ir::Tensor> run_control_flow(const ir::Model& model, const ir::Node& n, std::span<const ir::Tensor* const> inputs,
                                         const OuterScope& outer, ThreadPool& pool);

}  // namespace scalec::kernels
