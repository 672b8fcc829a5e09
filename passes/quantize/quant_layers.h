#pragma once
// What the quantization passes call a layer (Conv, ConvTranspose, Gemm, MatMul) and the facts
// they decide on: which values hold float32 activations, which input is a constant float weight,
// and why a layer cannot be quantized. Types come from scalec's own shape inference
// (kernels/exec/shape_inference), not from recorded value_info, which many exporters leave out:
// without it a ResNet-50's ordinary activations used to read "not a float activation".
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>

#include "ir/graph.h"

namespace scalec::passes::quant {

/// The element types of a model's main-graph values as scalec's shape inference gives them. The
/// model's recorded types are restored afterwards, so the output records what the input did.
class ValueTypes {
 public:
  /// Runs shape inference (lenient: recorded types that disagree are kept) over `model`.
  explicit ValueTypes(ir::Model& model);

  /// The ONNX element type of `v` (recorded, inferred or its initializer's); 0 when unknown.
  int32_t elem_type(const ir::Value* v) const;

  /// Why `v` is not a float32 activation (a value computed at run time), or "" when it is:
  /// "missing", "a constant", "int64", "of unknown type (scalec has no shape rule for Op)";
  /// generic phrases (op types, not node names), so that coverage reports group layers by them.
  std::string activation_reason(const ir::Graph& g, const ir::Value* v) const;

  /// True when `v` is a float32 activation.
  bool is_float_activation(const ir::Graph& g, const ir::Value* v) const { return activation_reason(g, v).empty(); }

 private:
  std::unordered_map<const ir::Value*, int32_t> types_;
  std::set<const ir::Node*> without_rule_;  // nodes shape inference has no rule for
};

/// True for the default-domain Conv, ConvTranspose, Gemm and MatMul nodes (the layers whose
/// coverage the quantize passes report).
bool is_layer_op(const ir::Node& n);

/// True when MatMul `n` multiplies two float activations (attention scores Q x K^T, attention x V).
bool is_activation_matmul(const ir::Graph& g, const ValueTypes& types, const ir::Node& n);

/// Why input 1 of layer `n` is not a constant float32 weight the passes can rewrite, or "".
std::string weight_reason(const ir::Graph& g, const ValueTypes& types, const ir::Node& n);

/// Why Gemm `gemm` is not rewritten as MatMul + Add by gemm-to-matmul (alpha, beta, transA, a weight
/// not of rank 2), or "run gemm-to-matmul first" when it could be.
std::string gemm_matmul_reason(const ir::Graph& g, const ir::Node& gemm);

/// The float32 constant behind bias `v`: an initializer (float_weight), or one read through Identity
/// nodes, as PyTorch exports write biases it shares; null otherwise.
const ir::Tensor* float_bias(const ir::Graph& g, const ir::Value* v);

/// Removes Identity nodes of initializers (what float_bias looks through) that nothing reads any more.
void remove_dead_identities(ir::Graph& g);

/// Elements of layer `n`'s constant float weight (an initializer or a Constant node); 0 without one.
int64_t layer_params(const ir::Graph& g, const ir::Node& n);

}  // namespace scalec::passes::quant
