#pragma once
// Declarative checks of a node against its ONNX schema (kernels/ops/op_schema.cpp).
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

/// Checks a node of the ai.onnx domain against its ONNX schema before any rule or kernel reads it:
/// input and output counts, and the kind, range or allowed values of the attributes listed in
/// op_schema.cpp (Gemm transB in {0, 1}, Transpose perm a permutation, ...). Error(kBadInput)
/// naming node, attribute and value. The Executor and infer_shapes call it for every node.
void check_node_schema(const NodeAttrs& node);

}  // namespace scalec::kernels
