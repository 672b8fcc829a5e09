#pragma once
// Activation formulas shared by the CPU and CUDA kernels (one place each): the pointwise functions
// of Relu, LeakyRelu, Elu, Selu, Celu, Softplus, Softsign, Sigmoid, HardSigmoid, HardSwish, Mish,
// ThresholdedRelu and Gelu (exact and tanh), each followed by its derivative `<name>_grad` (dy/dx,
// from x, or from the output y where the name says so) for the backward rules. T is float or
// double; plain functions of numbers.
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

/// d relu / dx: 1 for x > 0, else 0 (the subgradient at the kink is 0, as PyTorch's).
template <typename T>
SCALEC_HD inline T relu_grad(T x) {
  return x > T(0) ? T(1) : T(0);
}

template <typename T>
SCALEC_HD inline T leaky_relu(T x, T alpha) {
  return x < T(0) ? alpha * x : x;
}

template <typename T>
SCALEC_HD inline T leaky_relu_grad(T x, T alpha) {
  return x < T(0) ? alpha : T(1);
}

template <typename T>
SCALEC_HD inline T elu(T x, T alpha) {
  return x < T(0) ? alpha * static_cast<T>(expm1(x)) : x;
}

template <typename T>
SCALEC_HD inline T elu_grad(T x, T alpha) {
  return x < T(0) ? alpha * static_cast<T>(exp(x)) : T(1);
}

template <typename T>
SCALEC_HD inline T selu(T x, T alpha, T gamma) {
  return x <= T(0) ? gamma * alpha * static_cast<T>(expm1(x)) : gamma * x;
}

template <typename T>
SCALEC_HD inline T selu_grad(T x, T alpha, T gamma) {
  return x <= T(0) ? gamma * alpha * static_cast<T>(exp(x)) : gamma;
}

/// max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
template <typename T>
SCALEC_HD inline T celu(T x, T alpha) {
  return x > T(0) ? x : alpha * static_cast<T>(expm1(x / alpha));
}

template <typename T>
SCALEC_HD inline T celu_grad(T x, T alpha) {
  return x > T(0) ? T(1) : static_cast<T>(exp(x / alpha));
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

/// 1 / (1 + |x|)^2.
template <typename T>
SCALEC_HD inline T softsign_grad(T x) {
  T d = T(1) + static_cast<T>(fabs(x));
  return T(1) / (d * d);
}

/// 1 / (1 + exp(-x)); the negative branch avoids exp overflow.
template <typename T>
SCALEC_HD inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + static_cast<T>(exp(-x)));
  T e = static_cast<T>(exp(x));
  return e / (T(1) + e);
}

/// d sigmoid / dx from the output y: y (1 - y).
template <typename T>
SCALEC_HD inline T sigmoid_grad_from_y(T y) {
  return y * (T(1) - y);
}

/// d softplus / dx = sigmoid(x).
template <typename T>
SCALEC_HD inline T softplus_grad(T x) {
  return sigmoid(x);
}

/// d tanh / dx from the output y: 1 - y^2.
template <typename T>
SCALEC_HD inline T tanh_grad_from_y(T y) {
  return T(1) - y * y;
}

/// max(0, min(1, alpha * x + beta)).
template <typename T>
SCALEC_HD inline T hard_sigmoid(T x, T alpha, T beta) {
  T y = alpha * x + beta;
  return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
}

/// alpha inside the linear segment 0 < alpha x + beta < 1, else 0 (0 at the corners).
template <typename T>
SCALEC_HD inline T hard_sigmoid_grad(T x, T alpha, T beta) {
  T y = alpha * x + beta;
  return (y > T(0) && y < T(1)) ? alpha : T(0);
}

/// x * HardSigmoid(x) with alpha = 1/6, beta = 0.5.
template <typename T>
SCALEC_HD inline T hard_swish(T x) {
  return x * hard_sigmoid(x, T(1) / T(6), T(0.5));
}

/// 0 below x = -3, 1 above x = 3, x / 3 + 1/2 between.
template <typename T>
SCALEC_HD inline T hard_swish_grad(T x) {
  return x < T(-3) ? T(0) : (x > T(3) ? T(1) : x / T(3) + T(0.5));
}

/// x * tanh(softplus(x)).
template <typename T>
SCALEC_HD inline T mish(T x) {
  return x * static_cast<T>(tanh(softplus(x)));
}

/// tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x), sp = softplus(x).
template <typename T>
SCALEC_HD inline T mish_grad(T x) {
  T t = static_cast<T>(tanh(softplus(x)));
  return t + x * (T(1) - t * t) * sigmoid(x);
}

template <typename T>
SCALEC_HD inline T thresholded_relu(T x, T alpha) {
  return x > alpha ? x : T(0);
}

template <typename T>
SCALEC_HD inline T thresholded_relu_grad(T x, T alpha) {
  return x > alpha ? T(1) : T(0);
}

/// 0.5 x (1 + erf(x / sqrt(2))).
template <typename T>
SCALEC_HD inline T gelu(T x) {
  return T(0.5) * x * (T(1) + static_cast<T>(erf(x * T(0.70710678118654752440))));
}

/// d erf / dx = 2 / sqrt(pi) exp(-x^2).
template <typename T>
SCALEC_HD inline T erf_grad(T x) {
  return T(1.12837916709551257390) * static_cast<T>(exp(-x * x));
}

/// Phi(x) + x phi(x): the normal CDF plus x times the normal density.
template <typename T>
SCALEC_HD inline T gelu_grad(T x) {
  T cdf = T(0.5) * (T(1) + static_cast<T>(erf(x * T(0.70710678118654752440))));
  T pdf = T(0.39894228040143267794) * static_cast<T>(exp(T(-0.5) * x * x));
  return cdf + x * pdf;
}

/// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
template <typename T>
SCALEC_HD inline T gelu_tanh(T x) {
  T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  return T(0.5) * x * (T(1) + static_cast<T>(tanh(inner)));
}

/// With u = sqrt(2 / pi) (x + 0.044715 x^3), t = tanh(u):
/// 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2).
template <typename T>
SCALEC_HD inline T gelu_tanh_grad(T x) {
  T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  T t = static_cast<T>(tanh(inner));
  T dinner = T(0.79788456080286535588) * (T(1) + T(3) * T(0.044715) * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner;
}

/// -1, 0 or 1 by the sign of x (NaN stays NaN).
template <typename T>
SCALEC_HD inline T sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
}

}  // namespace scalec::kernels
