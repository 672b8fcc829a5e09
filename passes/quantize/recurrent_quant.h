#pragma once
// Recurrent layers (LSTM, GRU, RNN) in the quantization passes: their W and R stored as k-bit
// integers, one scale per row (each gate's row of each direction), B and the states left float.
//
//   weight-only (every format; every runtime runs it):
//     Before: x -> GRU(W, R, B) -> y
//     After:  x -> GRU(DequantizeLinear(W_int8, scale[G*H], axis 1), DequantizeLinear(R_int8, ...), B) -> y
//     (bidirectional: W_int8 [D*G*H, I] with one scale per row, axis 0, then Reshape to [D, G*H, I])
//   dynamic LSTM (what ONNX Runtime's quantize_dynamic writes, operators/lstm.py in onnxruntime 1.20):
//     Before: x -> LSTM(W, R, B, ...) -> Y, Y_h, Y_c
//     After:  x -> com.microsoft.DynamicQuantizeLSTM(x, W_int8 [D, I, 4H], R_int8 [D, H, 4H], B, ...,
//                   W_scale [D, 4H], W_zero_point, R_scale [D, 4H], R_zero_point) -> Y, Y_h, Y_c
//     W and R transposed to [D, input, 4H], scales per (direction, gate row), zero points 0;
//     ONNX Runtime quantizes x and h to uint8 at each step, scalec's kernel dequantizes W and R and
//     runs its float LSTM. DynamicQuantizeLSTM has no layout attribute: a layout=1 LSTM is stored
//     weight-only instead.
// Weight rows are symmetric signed (zero point 0) at the pass's weight bits, in the int8 container.
// Preconditions: a float model; per-axis DequantizeLinear needs opset 13 (lower opsets are upgraded).
#include <set>
#include <string>

#include "ir/graph.h"
#include "passes/core/coverage.h"
#include "passes/quantize/quant_math.h"

namespace scalec::passes {
struct QdqOptions;
struct QuantReport;
}

namespace scalec::passes::quant {

/// How one quantization pass stores the recurrent layers it covers.
struct RecurrentQuantOptions {
  int bits = 8;                       ///< 2..8, weight-only rows (int8 container)
  bool dynamic_lstm = false;          ///< LSTM as com.microsoft.DynamicQuantizeLSTM (else weight-only)
  int lstm_bits = 7;                  ///< DynamicQuantizeLSTM's W and R (ORT's u8s8 kernel: reduced range)
  std::set<std::string> exclude_nodes, exclude_ops;
  std::set<std::string> only_ops;     ///< when not empty, recurrent ops not listed are skipped and not counted
  bool keep_io_float = false;
  std::string left_reason;            ///< when set, every recurrent node stays float with this reason
};

/// True for the default-domain LSTM, GRU and RNN nodes.
bool is_recurrent_op(const ir::Node& n);

/// What quantize_recurrent did, for the calling pass's report.
struct RecurrentQuantResult {
  std::vector<std::string> quantized;                           ///< node labels
  std::vector<std::pair<std::string, std::string>> left_float;  ///< (node label, reason)
  Coverage coverage;                                            ///< one layer per node, W + R elements
  size_t weights_quantized = 0;                                 ///< W and R tensors stored as integers
  size_t dynamic_lstms = 0;                                     ///< nodes now DynamicQuantizeLSTM
  int bits = 8, lstm_bits = 7;                                  ///< as the options said
};

/// Quantizes the main graph's recurrent nodes as `o` says (see the file comment).
RecurrentQuantResult quantize_recurrent(ir::Model& model, const RecurrentQuantOptions& o);

/// The same with the integer-format passes' options: recurrent_bits for weight-only rows, the
/// layers' (integer kernel) bits for DynamicQuantizeLSTM; exclusions, only_ops, keep_io_float.
RecurrentQuantResult quantize_recurrent(ir::Model& model, const QdqOptions& o, bool dynamic_lstm);

/// Adds `r` to a pass's report (nodes, left-float reasons, coverage, weight count).
void merge_into(const RecurrentQuantResult& r, QuantReport& report);

/// ", 1 DynamicQuantizeLSTM int7, 1 recurrent weight-only int8" ("" when no recurrent node was quantized).
std::string recurrent_note(const RecurrentQuantResult& r);

}  // namespace scalec::passes::quant
