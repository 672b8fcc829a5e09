#pragma once
// The training form of a QDQ model (quantization-aware training) and the way back.
//
//   QDQ (what quantize-qdq writes):
//     x -> QuantizeLinear(s, z) -> DequantizeLinear(s, z) -> Conv(DQ(W_int, sw, zw, axis 0), DQ(B_int32, s * sw))
//   Training form (qdq_to_fake_quant):
//     x -> FakeQuantize(s, z) -> Conv(FakeQuantize(W_float, sw, zw, axis 0), FakeQuantize(B_float, Mul(s, sw)))
//   (the bias on the int32 grid of the current scales, as the export will store it; no scale
//   gradient flows through it, grad_scale 0) and fake_quant_to_qdq turns it back into the first form
//   with the trained weights and scales: W_int = clamp(round(W / sw) + zw) in the weight's k-bit
//   range, the int32 bias requantized with the final scales, each FakeQuantize on an activation a
//   Q -> DQ pair.
//
// The pairs keep their scale and zero point initializers (names and all), so the round trip writes
// the same graph quantize-qdq wrote, with the numbers training left in them. FakeQuantize (domain
// com.scalec, kernels/ops/fake_quant_ops.cpp) computes exactly what Q -> DQ does in float, so the
// training graph's inference forward and the export compute the same numbers.
// Preconditions: the model came out of quantize-qdq (per-tensor or per-channel weights, not
// blockwise), and `floats` holds the layers' float weights as they were before it ran.
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/quantize/qdq_pass.h"

namespace scalec::passes {

/// A layer's float weight and bias (by initializer name) before quantization.
struct FloatLayer {
  std::string weight_name, bias_name;
  ir::Tensor weight, bias;  ///< bias empty when the layer has no float bias initializer
};

/// The float weights of every Conv/ConvTranspose/Gemm/MatMul of `model` that has a float initializer
/// weight, by node (the nodes survive quantize-qdq, which only rewires their inputs).
std::map<const ir::Node*, FloatLayer> record_float_layers(const ir::Model& model);

/// One fake-quantized weight of the training form.
struct FakeQuantWeight {
  ir::Node* fake_quant;  ///< FakeQuantize(W, scale, zero_point) feeding `layer`'s input 1
  ir::Node* layer;
  ir::DType storage;     ///< the integer type of the exported weight (int8, int4, ...)
  ir::Node* bias_fake_quant = nullptr;  ///< FakeQuantize(B_float, Mul(s, sw)) where quantize-qdq wrote an int32 bias
};

/// What qdq_to_fake_quant made: the FakeQuantize nodes on activations and on weights.
struct FakeQuantGraph {
  std::vector<ir::Node*> activations;
  std::vector<FakeQuantWeight> weights;
};

/// Rewrites a QDQ model into its training form (see the file comment); `options` are those
/// quantize-qdq ran with (the weights' k-bit ranges). Throws Error(kBadInput) on blockwise weights.
FakeQuantGraph qdq_to_fake_quant(ir::Model& model, const std::map<const ir::Node*, FloatLayer>& floats,
                                 const QdqOptions& options);

/// Rewrites the training form back into QDQ with the current weights, scales and zero points.
void fake_quant_to_qdq(ir::Model& model, const FakeQuantGraph& fq);

}  // namespace scalec::passes
