#pragma once
// Quantization numerics for weights and activation ranges (DESIGN.md "Quantization numerics"):
// scale and zero point from a real range, round half to even, clamp to the k-bit range, and whole
// weight tensors quantized per tensor, per output channel or in blocks along the reduction axis.
//
// Integer ranges, k in 2..8 (the choice follows ONNX Runtime's quantize_static, quant_utils.py
// get_qmin_qmax_for_qType / compute_scale_zp in onnxruntime 1.20):
//   signed   asymmetric [-2^(k-1), 2^(k-1)-1]   zero point round(qmin - min/scale)
//   signed   symmetric  [-(2^(k-1)-1), 2^(k-1)-1] (int8: [-127, 127], scale = max|x| / 127), zero point 0
//   unsigned asymmetric [0, 2^k-1]
//   unsigned symmetric  [0, 2^k-2] (uint8: [0, 254]), zero point 2^(k-1)-1
// The symmetric signed range drops -2^(k-1) so that -max|x| and +max|x| are both exact and the
// product of two symmetric int8 values never needs -128 * -128 (what TensorRT and ORT's int8
// kernels assume). The real range is first widened to contain 0, so that zero is exact.
// A degenerate range (max - min below FLT_MIN) gets scale 1 and the symmetric zero point.
#include <cstdint>

#include "ir/graph.h"

namespace scalec::passes::quant {

/// An inclusive integer range [lo, hi].
struct IntRange {
  int64_t lo = 0, hi = 0;
};

/// A scale and zero point: real = scale * (q - zero_point).
struct QuantParams {
  float scale = 1.0f;
  int64_t zero_point = 0;
};

/// The k-bit range (k in 2..8) for the signedness and symmetry (see the table above).
IntRange int_range(int bits, bool is_signed, bool symmetric);

/// Scale and zero point covering the real range [min, max] (widened to contain 0) with `range`.
QuantParams params_from_range(float min, float max, IntRange range, bool symmetric);

/// round_half_even(x / scale) + zero_point, clamped to `range`.
int64_t quantize_value(float x, const QuantParams& p, const IntRange& range);

/// How a weight tensor is split into groups that share one scale.
enum class Granularity { kPerTensor, kPerChannel, kBlock };

/// How to quantize one weight tensor.
struct WeightQuantOptions {
  int bits = 8;                                   ///< 2..8
  Granularity granularity = Granularity::kPerChannel;
  int64_t block_size = 0;                         ///< kBlock: elements per block (32, 64, 128, ...)
  bool symmetric = true;
  bool is_signed = true;
};

/// A quantized weight: integers plus the DequantizeLinear parameters that restore it.
struct QuantizedWeight {
  ir::Tensor q;           ///< int8/uint8 (k != 4, k-bit range in the int8 container) or packed int4/uint4
  ir::Tensor scale;       ///< float: scalar, [C] (per channel) or the blocked shape
  ir::Tensor zero_point;  ///< same shape as scale, q's element type
  int64_t axis = 0;       ///< per channel: the channel axis; blocks: the blocked (reduction) axis
  int64_t block_size = 0; ///< 0 unless blockwise
};

/// The element type holding k-bit integers: int4/uint4 for k = 4, int8/uint8 otherwise.
ir::DType storage_dtype(int bits, bool is_signed);

/// Quantizes float weight `w`. `channel_axis` is the output-channel axis (per channel);
/// `reduction_axis` the axis blocks run along (blockwise). Throws Error(kBadInput) on bits outside
/// 2..8 or a non-float tensor.
QuantizedWeight quantize_weight(const ir::Tensor& w, int64_t channel_axis, int64_t reduction_axis,
                                const WeightQuantOptions& options);

/// The float weights a QuantizedWeight stands for (what DequantizeLinear computes).
ir::Tensor dequantize_weight(const QuantizedWeight& qw);

/// Integers of a quantized tensor as int64 (unpacks int4/uint4, low nibble first).
std::vector<int64_t> integer_values(const ir::Tensor& q);

/// The axes of a node's weight input: the output-channel axis and the reduction (input) axis.
/// Conv W [M, C/g, kh, kw]: 0 / 1; ConvTranspose W [C, M/g, kh, kw]: 1 / 0; Gemm transB=1 W [N, K]:
/// 0 / 1, transB=0 W [K, N]: 1 / 0; MatMul W [..., K, N]: rank-1 / rank-2.
struct WeightAxes {
  int64_t channel = 0, reduction = 1;
};
/// WeightAxes for the weight of `node` (Conv, ConvTranspose, Gemm input 1, MatMul input 1) of rank `rank`.
WeightAxes weight_axes(const ir::Node& node, int64_t rank);

/// Integers into a tensor of `dtype` (int8/uint8 one per byte; int4/uint4 packed two per byte, low
/// nibble first), as quantize_weight stores them.
ir::Tensor make_integer_tensor(ir::DType dtype, std::vector<int64_t> shape, const std::vector<int64_t>& v);

}  // namespace scalec::passes::quant
