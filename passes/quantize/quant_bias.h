#pragma once
// The int32 bias of a quantized layer, as ONNX Runtime's quantizer writes it: quantize-qdq uses it,
// and so does the export of quantization-aware training (passes/quantize/fake_quant_graph.h).
#include "ir/graph.h"
#include "passes/quantize/quant_math.h"

namespace scalec::passes::quant {

/// Replaces layer `n`'s float bias (input 2) with DequantizeLinear(int32 bias, x_scale * w_scale),
/// per channel as `qw` is; false, bias untouched, when it has no rank-1 float bias, `qw` is
/// blockwise, or a value does not fit int32.
bool quantize_bias(ir::Graph& g, ir::Node* n, float x_scale, const QuantizedWeight& qw);

}  // namespace scalec::passes::quant
