#pragma once
// quantize-qdq: static quantization in the QDQ format ONNX Runtime and TensorRT expect.
//
//   Before: x -> Conv(W, B) -> y -> Relu
//   After:  x -> QuantizeLinear(sx, zx) -> DequantizeLinear(sx, zx) -> Conv(DQ(W_int8, sw, axis 0),
//                                                                          DQ(B_int32, sx * sw, axis 0))
//             -> y -> QuantizeLinear(sy, zy) -> DequantizeLinear(sy, zy) -> Relu
//
// Weights of Conv, ConvTranspose, Gemm and MatMul (constant float initializers) become int8 (or k-bit
// in the int8 container, or int4 at opset 21) behind a DequantizeLinear; activation inputs and
// outputs of those nodes get a Q -> DQ pair with int8 per-tensor parameters (asymmetric: the zero
// point from the range, as ONNX Runtime's quantizer writes them; symmetric, zero point 0, for TensorRT)
// from the calibrated ranges, so ONNX Runtime fuses DQ -> Conv -> Q into QLinearConv (QGemm,
// QLinearMatMul). The output pair sits on the node's own output, before a following Relu / Clip
// (ONNX Runtime fuses no DQ -> Conv -> Relu -> Q, and drops the Relu only for an asymmetric pair)
// and, when only Relu (or one Clip with a constant min >= 0, ReLU6) reads it, takes that output's
// range (sy = sr): the negatives the clamp zeroes need no levels; a graph output stays float. A value read by several quantized nodes gets one pair per reader,
// each with its own scale initializers (ONNX Runtime turns an int8 pair into the uint8 its x86
// kernels need only where one Q feeds one DQ). On x86 without VNNI those u8s8 kernels saturate
// with full-range int8 weights: 7-bit weights (--reduce-range) avoid it.
// A MatMul of two float activations (attention scores Q x K^T, attention x V) gets a pair on both
// inputs and keeps a float output, as ONNX Runtime's quantizer writes it.
// Add, Concat, MaxPool and AveragePool whose inputs are all float activations are quantized too:
// pairs on their inputs and output, each with its value's own range for Add and Concat (as ONNX
// Runtime's quantizer writes them; QLinearAdd/QLinearConcat rescale), one scale shared by input and
// output for the pools (the union of their ranges), which keeps MaxPool exact. Conv / ConvTranspose bias
// is int32 with scale x_scale * w_scale (per channel), as ONNX Runtime's quantizer writes it, and so
// is the bias of a Gemm whose output is quantized; a Gemm writing a graph output keeps a float bias
// (ONNX Runtime 1.20 misreads an int32 C when it fuses DQ -> Gemm without output Q).
// Preconditions: a float model (an already quantized one is refused, Error kBadInput); per channel
// needs opset 13 and int4 weights opset 21 — lower opsets are upgraded explicitly.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "calibration/calibrator.h"
#include "passes/core/coverage.h"
#include "passes/core/pass.h"
#include "passes/quantize/quant_layers.h"
#include "passes/quantize/quant_math.h"

namespace scalec::passes {

/// What to quantize and how (DESIGN.md defaults: int8 symmetric per-channel weights, int8
/// asymmetric per-tensor activations; symmetric ones, zero point 0, for TensorRT).
struct QdqOptions {
  quant::WeightQuantOptions weights;
  /// Bits of recurrent weights stored weight-only (passes/quantize/recurrent_quant.h): no integer
  /// kernel reads them, so they take --bits, not the reduced range `weights` may have.
  int recurrent_bits = 8;
  /// Why the recurrent layers stay float ("" quantizes them): quantization-aware training does not
  /// train them in fake-quant form, so it leaves them, counted, with this reason.
  std::string recurrent_left_reason;
  bool activation_signed = true;
  bool activation_symmetric = false;
  std::set<std::string> exclude_nodes;  ///< node names left in float
  /// Weight bits per node name, overriding weights.bits (mixed precision: `quantize --target-drop`).
  std::map<std::string, int> layer_bits;
  std::set<std::string> exclude_ops;    ///< op types left in float
  /// Dynamic pass: when not empty, layers of other op types are skipped and not counted (another
  /// pass of the pipeline quantizes them: weight-only Conv beside dynamic MatMul).
  std::set<std::string> only_ops;
  /// Nodes that read a graph input or write a graph output (first and last layers) stay float.
  bool keep_io_float = false;
  /// Calibrated range per activation value (see qdq_calibration_values).
  std::map<std::string, calibration::Range> ranges;
  /// Weights already quantized with `weights` (by GPTQ, passes/quantize/gptq.h), by initializer
  /// name: stored as given instead of rounded to nearest.
  std::map<std::string, quant::QuantizedWeight> prequantized;
};

/// What a quantization pass did: nodes quantized, candidate nodes left in float with why, and the
/// coverage of the layers (Conv, ConvTranspose, Gemm, MatMul: count and weight elements).
struct QuantReport {
  std::vector<std::string> quantized;
  std::vector<std::pair<std::string, std::string>> left_float;  ///< (node, reason), layers and others
  Coverage coverage = Coverage("layer");                        ///< layers only
  size_t weights_quantized = 0;
  size_t activations_quantized = 0;
};

/// Why layer `n` (Conv/ConvTranspose/Gemm/MatMul) stays float in every format (exclusions,
/// --keep-io-float, input 0 not a float activation, input 1 neither a constant float weight nor, for
/// MatMul, a float activation), or "". A MatMul of two activations gets "".
std::string layer_float_reason(const ir::Graph& g, const quant::ValueTypes& types, const ir::Node* n,
                               const QdqOptions& o);

/// The activation values whose ranges the QDQ pass needs for `options` (main-graph value names;
/// a weighted node's output read only by Relu is calibrated through the Relu output).
std::vector<std::string> qdq_calibration_values(ir::Model& model, const QdqOptions& options);

/// What the integer-format passes (qdq, qoperator, dynamic) share: their options and the report
/// of their last run.
class QuantPass : public Pass {
 public:
  explicit QuantPass(QdqOptions options) : options_(std::move(options)) {}
  /// The report of the last run.
  const QuantReport& report() const { return report_; }

 protected:
  /// The stored form of `w`, input 1 of `n`: options_.prequantized's entry for it when there is
  /// one, else `w` rounded to nearest with `wo` (its bits from options_.layer_bits where `n` is named there).
  quant::QuantizedWeight weight_of(const ir::Node& n, const ir::Tensor& w, const quant::WeightQuantOptions& wo) const;

  /// ", 2 layers at layer-bits" when options_.layer_bits applied to some quantized layer, else "".
  std::string mixed_bits_note(const ir::Graph& g) const;

  QdqOptions options_;
  QuantReport report_;
};

/// Static QDQ quantization (see the file comment).
class QuantizeQdq final : public QuantPass {
 public:
  using QuantPass::QuantPass;
  std::string name() const override { return "quantize-qdq"; }
  std::string run(ir::Model& model) override;
};

}  // namespace scalec::passes
