#pragma once
// What the recurrent forward (recurrent.cpp) and backward (recurrent_backward.cpp) share: the
// inputs checked and brought to layout 0, the per-step record the backward replays, and the
// activation functions with their derivatives. Internal to kernels/cpu.
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/activation_math.h"
#include "kernels/cpu/recurrent.h"

namespace scalec::kernels::rnn {

/// Sizes of one run (letters as in recurrent.h).
struct Sizes {
  int64_t s = 0, n = 0, i = 0, h = 0, g = 0, d = 0;
};

/// The inputs checked, with X, initial_h and initial_c copied to layout 0 and absent ones as zeros.
template <typename T>
struct Prepared {
  Sizes z;
  std::vector<T> x;             ///< [S, N, I]
  const T* w = nullptr;         ///< [D, G*H, I]
  const T* r = nullptr;         ///< [D, G*H, H]
  std::vector<T> b;             ///< [D, 2*G*H], zeros when B is omitted
  std::vector<T> p;             ///< [D, 3*H], zeros when P is omitted (LSTM)
  bool has_p = false;
  std::vector<T> h0, c0;        ///< [D, N, H]
  std::vector<int64_t> lens;    ///< [N], S when sequence_lens is omitted
};

/// Checks shapes and element types and brings the inputs to layout 0.
template <typename T>
Prepared<T> prepare(const RnnAttrs& a, const RnnInputs& in, const std::string& where);

/// One direction's per-step record for the backward (steps in processing order k = 0..S-1).
template <typename T>
struct Stash {
  std::vector<T> h;    ///< [S+1, N, H]: h[k] is the state step k reads, h[S] the final one
  std::vector<T> c;    ///< LSTM: [S+1, N, H], likewise
  std::vector<T> pre;  ///< [S, N, G*H]: every gate's input before clip and activation
  std::vector<T> q;    ///< GRU with linear_before_reset: [S, N, H], H_prev Rh^T + Rbh
};

/// The time index step k of direction `dir` reads: k forward, S-1-k backward.
inline int64_t time_of(const RnnAttrs& a, int64_t dir, int64_t k, int64_t s) {
  const bool backward = dir == 1 || a.reverse;
  return backward ? s - 1 - k : k;
}

/// Runs direction `dir`: writes Y[:, dir] (layout 0, [S, D, N, H]; may be null), the final state
/// into h_final/c_final ([N, H]; c_final LSTM only) and, when `stash` is given, each step's record.
template <typename T>
void run_direction(ThreadPool& pool, const RnnAttrs& a, const Prepared<T>& p, int64_t dir, T* y, T* h_final,
                   T* c_final, Stash<T>* stash);

/// f(x) for one activation.
template <typename T>
inline T activate(const RnnActivationFn& f, T x) {
  const T alpha = static_cast<T>(f.alpha), beta = static_cast<T>(f.beta);
  switch (f.kind) {
    case RnnActivation::kRelu: return relu(x);
    case RnnActivation::kTanh: return static_cast<T>(tanh(x));
    case RnnActivation::kSigmoid: return sigmoid(x);
    case RnnActivation::kAffine: return alpha * x + beta;
    case RnnActivation::kLeakyRelu: return leaky_relu(x, alpha);
    case RnnActivation::kThresholdedRelu: return thresholded_relu(x, alpha);
    case RnnActivation::kScaledTanh: return alpha * static_cast<T>(tanh(beta * x));
    case RnnActivation::kHardSigmoid: return hard_sigmoid(x, alpha, beta);
    case RnnActivation::kElu: return elu(x, alpha);
    case RnnActivation::kSoftsign: return softsign(x);
    case RnnActivation::kSoftplus: return softplus(x);
  }
  return x;
}

/// f'(x) for one activation, given x and y = f(x).
template <typename T>
inline T activate_grad(const RnnActivationFn& f, T x, T y) {
  const T alpha = static_cast<T>(f.alpha), beta = static_cast<T>(f.beta);
  switch (f.kind) {
    case RnnActivation::kRelu: return relu_grad(x);
    case RnnActivation::kTanh: return tanh_grad_from_y(y);
    case RnnActivation::kSigmoid: return sigmoid_grad_from_y(y);
    case RnnActivation::kAffine: return alpha;
    case RnnActivation::kLeakyRelu: return leaky_relu_grad(x, alpha);
    case RnnActivation::kThresholdedRelu: return thresholded_relu_grad(x, alpha);
    case RnnActivation::kScaledTanh: {
      const T t = static_cast<T>(tanh(beta * x));
      return alpha * beta * (T(1) - t * t);
    }
    case RnnActivation::kHardSigmoid: return hard_sigmoid_grad(x, alpha, beta);
    case RnnActivation::kElu: return elu_grad(x, alpha);
    case RnnActivation::kSoftsign: return softsign_grad(x);
    case RnnActivation::kSoftplus: return softplus_grad(x);
  }
  return T(1);
}

/// A gate input clipped to [-clip, clip] when the node sets clip.
template <typename T>
inline T clip_gate(const RnnAttrs& a, T x) {
  if (!a.clip) return x;
  const T c = static_cast<T>(*a.clip);
  return x < -c ? -c : (x > c ? c : x);
}

/// d clip / dx: 0 where the clip bound held the value.
template <typename T>
inline T clip_gate_grad(const RnnAttrs& a, T x) {
  if (!a.clip) return T(1);
  const T c = static_cast<T>(*a.clip);
  return (x < -c || x > c) ? T(0) : T(1);
}

}  // namespace scalec::kernels::rnn
