#pragma once
// LSTM, GRU and RNN on the CPU: forward over the whole sequence and backward through time.
// Dimension letters: S steps, N batch, I input size, H hidden size, D directions (1 or 2),
// G gates (LSTM 4 in the order i o f c, GRU 3 in the order z r h, RNN 1).
//   layout 0: X [S, N, I], initial_h/initial_c/Y_h/Y_c [D, N, H], Y [S, D, N, H]
//   layout 1: X [N, S, I], initial_h/initial_c/Y_h/Y_c [N, D, H], Y [N, S, D, H]
//   W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H] (W's biases, then R's), P [D, 3*H] (i o f), sequence_lens [N].
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// Which recurrence a node computes.
enum class RnnCell { kRnn, kGru, kLstm };

/// The activation functions the ONNX recurrent ops accept (activations attribute).
enum class RnnActivation {
  kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid, kElu, kSoftsign, kSoftplus
};

/// One activation with the alpha/beta it consumed from activation_alpha/activation_beta.
struct RnnActivationFn {
  RnnActivation kind = RnnActivation::kTanh;
  float alpha = 0.0f, beta = 0.0f;
};

/// A recurrent node's attributes, resolved (see recurrent_attrs in kernels/ops/op_args.h).
struct RnnAttrs {
  RnnCell cell = RnnCell::kLstm;
  int64_t num_directions = 1;
  bool reverse = false;          ///< direction "reverse" (the only direction)
  int64_t hidden_size = -1;      ///< -1: not given (taken from R)
  std::vector<RnnActivationFn> activations;  ///< functions_per_direction() per direction, forward first
  std::optional<float> clip;     ///< gate inputs clipped to [-clip, clip]
  bool input_forget = false;     ///< LSTM: f = 1 - i
  bool linear_before_reset = false;  ///< GRU: r * (H Rh^T + Rbh) instead of (r * H) Rh^T + Rbh
  int64_t layout = 0;

  /// G: gates per direction.
  int64_t gates() const { return cell == RnnCell::kLstm ? 4 : cell == RnnCell::kGru ? 3 : 1; }
  /// Activation functions per direction: LSTM 3 (f g h), GRU 2 (f g), RNN 1 (f).
  int64_t functions_per_direction() const { return cell == RnnCell::kLstm ? 3 : cell == RnnCell::kGru ? 2 : 1; }
};

/// The inputs of a recurrent node (null where omitted). initial_c and p are LSTM's only.
struct RnnInputs {
  const ir::Tensor* x = nullptr;
  const ir::Tensor* w = nullptr;
  const ir::Tensor* r = nullptr;
  const ir::Tensor* b = nullptr;
  const ir::Tensor* sequence_lens = nullptr;
  const ir::Tensor* initial_h = nullptr;
  const ir::Tensor* initial_c = nullptr;
  const ir::Tensor* p = nullptr;
};

/// Y, Y_h and Y_c (Y_c empty for GRU and RNN).
struct RnnOutputs {
  ir::Tensor y, y_h, y_c;
};

/// Runs the recurrence over the sequence. A batch entry with sequence_lens L runs steps 0..L-1
/// (reverse: L-1..0); Y is 0 at its later steps, Y_h/Y_c hold its state after its last step
/// (0 when L is 0, as ONNX Runtime gives it). float and double; Error(kBadInput) naming `where` on bad shapes.
RnnOutputs rnn_forward_cpu(ThreadPool& pool, const RnnAttrs& attrs, const RnnInputs& in, const std::string& where);

/// The gradients of a recurrent node's inputs (empty where not wanted or the input is omitted).
struct RnnGrads {
  ir::Tensor dx, dw, dr, db, dinitial_h, dinitial_c, dp;
};

/// Which of them to compute (the others come back empty).
struct RnnGradWants {
  bool dx = true, dw = true, dr = true, db = true, dinitial_h = true, dinitial_c = true, dp = true;
};

/// Backward through time: reruns the forward keeping each step's state and gate inputs, then walks
/// the steps back. dy, dy_h, dy_c may be null (no gradient reaches that output).
RnnGrads rnn_backward_cpu(ThreadPool& pool, const RnnAttrs& attrs, const RnnInputs& in, const ir::Tensor* dy,
                          const ir::Tensor* dy_h, const ir::Tensor* dy_c, const RnnGradWants& wants,
                          const std::string& where);

}  // namespace scalec::kernels
