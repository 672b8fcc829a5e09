#pragma once
// Graph helpers the quantization passes share: refusing quantized models, telling float values,
// and adding QuantizeLinear / DequantizeLinear nodes with their parameter initializers.
#include <set>
#include <string>

#include "ir/graph.h"
#include "passes/quantize/quant_math.h"

namespace scalec::passes::quant {

/// Throws Error(kBadInput) when the model already holds quantization ops (QuantizeLinear,
/// DequantizeLinear, QLinear*, MatMulInteger, ConvInteger, DynamicQuantizeLinear).
void check_not_quantized(const ir::Model& model);

/// True when `v` is listed as a graph input / output of `g`.
bool is_graph_input(const ir::Graph& g, const ir::Value* v);
bool is_graph_output(const ir::Graph& g, const ir::Value* v);

/// The float32 initializer behind `v` (not overridable through a graph input), or null.
const ir::Tensor* float_weight(const ir::Graph& g, const ir::Value* v);

/// True when `v` is known to hold float32: recorded type, initializer, or a float-preserving producer.
bool is_float_value(const ir::Value* v);

/// A readable name for reports: the node's name, else "Op#index".
std::string node_label(const ir::Graph& g, const ir::Node* n);

/// Adds DequantizeLinear(q, scale, zero_point[, axis, block_size]) before `before`; returns its output.
ir::Value* add_dequantize_weight(ir::Graph& g, const ir::Node* before, const QuantizedWeight& qw,
                                 const std::string& base, bool with_zero_point);

/// Removes `n` but keeps its output 0 (name, consumers, graph-output slot) for a new node to write;
/// returns that value, now without a producer.
ir::Value* remove_keeping_output(ir::Graph& g, ir::Node* n);

/// Removes DequantizeLinear nodes whose output nothing reads (left over after a rewrite).
void remove_dead_dequantize(ir::Graph& g);

/// `qw` with 4-bit integers moved to the int8/uint8 container (QLinearConv, QLinearMatMul and
/// MatMulInteger take 8-bit integers only); other weights are returned unchanged.
QuantizedWeight to_8bit_container(QuantizedWeight qw);

/// A scalar int8/uint8 tensor holding `v`.
ir::Tensor int_scalar(ir::DType dtype, int64_t v);

/// The output of the clamp that reads activation `y`, whose range y's quantization may take: the
/// Relu when only Relu nodes read y (the first; all compute the same), or the one Clip with a
/// constant lower bound >= 0 (ReLU6) that reads it; null otherwise. Taking max = max(Relu(y)) in
/// place of max|y| loses nothing: Relu(clamp(y, -max, max)) = clamp(Relu(y), 0, max) (likewise for
/// Clip), the positive step shrinks wherever min(y) < -max(y), and the clamp's own output,
/// quantized with the same scale, is re-quantized exactly. ONNX Runtime's quantizer does the same
/// for asymmetric activations (then drops the Relu/Clip); TensorRT fuses Conv + Relu and quantizes
/// the fused output. A graph output must keep its own range (callers check).
const ir::Value* clamp_output(const ir::Graph& g, const ir::Value* y);

/// Drops initializers nothing reads any more (and values left dangling).
void remove_unused_initializers(ir::Graph& g);

/// Makes sure the default-domain opset is at least `version`, upgrading the model (see
/// passes/core/opset_upgrade.h); `why` names the feature needing it in messages.
void require_opset(ir::Model& model, int64_t version, const std::string& why);

}  // namespace scalec::passes::quant
