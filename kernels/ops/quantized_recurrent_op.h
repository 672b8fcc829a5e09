#pragma once
// ONNX Runtime's contrib ops scalec runs (domain com.microsoft): DynamicQuantizeLSTM, what ONNX
// Runtime's quantize_dynamic and scalec's quantize-dynamic write for an LSTM. Kept out of
// op_registry.h, which most of the kernels include.

namespace scalec::kernels {

class OpRegistry;

/// ONNX Runtime's contrib-op domain, version 1.
inline constexpr const char* kMicrosoftDomain = "com.microsoft";

/// Registers DynamicQuantizeLSTM (kernels/ops/quantized_recurrent_ops.cpp): forward and shape rule.
void register_quantized_recurrent_ops(OpRegistry& r);

}  // namespace scalec::kernels
