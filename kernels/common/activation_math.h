#pragma once
// Activation formulas shared by the CPU and CUDA kernels (one place each): the pointwise functions
// of Relu, LeakyRelu, Elu, Selu, Celu, Softplus, Softsign, Sigmoid, HardSigmoid, HardSwish, Mish,
// ThresholdedRelu and Gelu (exact and tanh). T is float or double; plain functions of numbers.
#include <math.h>

#ifndef SCALEC_HD
#ifdef __CUDACC__
#define SCALEC_HD __host__ __device__
#else
#define SCALEC_HD
#endif
#endif

namespace scalec::kernels {

/// Default alpha and gamma of Selu (the ONNX spec's float constants).
inline constexpr float kSeluAlpha = 1.67326319217681884765625f;
inline constexpr float kSeluGamma = 1.05070102214813232421875f;

template <typename T>
SCALEC_HD inline T relu(T x) {
  return x < T(0) ? T(0) : x;  // NaN stays NaN
}

template <typename T>
SCALEC_HD inline T leaky_relu(T x, T alpha) {
  return x < T(0) ? alpha * x : x;
}

template <typename T>
SCALEC_HD inline T elu(T x, T alpha) {
  return x < T(0) ? alpha * static_cast<T>(expm1(x)) : x;
}

template <typename T>
SCALEC_HD inline T selu(T x, T alpha, T gamma) {
  return x <= T(0) ? gamma * alpha * static_cast<T>(expm1(x)) : gamma * x;
}

/// max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
template <typename T>
SCALEC_HD inline T celu(T x, T alpha) {
  return x > T(0) ? x : alpha * static_cast<T>(expm1(x / alpha));
}

/// log(1 + exp(x)), written so that neither branch overflows.
template <typename T>
SCALEC_HD inline T softplus(T x) {
  return x > T(0) ? x + static_cast<T>(log1p(exp(-x))) : static_cast<T>(log1p(exp(x)));
}

template <typename T>
SCALEC_HD inline T softsign(T x) {
  return x / (T(1) + static_cast<T>(fabs(x)));
}

/// 1 / (1 + exp(-x)); the negative branch avoids exp overflow.
template <typename T>
SCALEC_HD inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + static_cast<T>(exp(-x)));
  T e = static_cast<T>(exp(x));
  return e / (T(1) + e);
}

/// max(0, min(1, alpha * x + beta)).
template <typename T>
SCALEC_HD inline T hard_sigmoid(T x, T alpha, T beta) {
  T y = alpha * x + beta;
  return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
}

/// x * HardSigmoid(x) with alpha = 1/6, beta = 0.5.
template <typename T>
SCALEC_HD inline T hard_swish(T x) {
  return x * hard_sigmoid(x, T(1) / T(6), T(0.5));
}

/// x * tanh(softplus(x)).
template <typename T>
SCALEC_HD inline T mish(T x) {
  return x * static_cast<T>(tanh(softplus(x)));
}

template <typename T>
SCALEC_HD inline T thresholded_relu(T x, T alpha) {
  return x > alpha ? x : T(0);
}

/// 0.5 x (1 + erf(x / sqrt(2))).
template <typename T>
SCALEC_HD inline T gelu(T x) {
  return T(0.5) * x * (T(1) + static_cast<T>(erf(x * T(0.70710678118654752440))));
}

/// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
template <typename T>
SCALEC_HD inline T gelu_tanh(T x) {
  T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  return T(0.5) * x * (T(1) + static_cast<T>(tanh(inner)));
}

/// -1, 0 or 1 by the sign of x (NaN stays NaN).
template <typename T>
SCALEC_HD inline T sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
}

}  // namespace scalec::kernels
