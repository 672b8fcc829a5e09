#pragma once
// What the passes treat as a constant value.
#include "ir/graph.h"

namespace scalec::passes {

/// The tensor a value holds when it is constant: an initializer that is not also a graph input
/// (those may be overridden at run time), or the `value` of a Constant node; null otherwise.
const ir::Tensor* constant_tensor(const ir::Graph& graph, const ir::Value* v);

}  // namespace scalec::passes
