#pragma once
// CPU kernels of the activation family: pointwise activations and unary math (float, double,
// float16, bfloat16; a few also on integers), PRelu, Clip, IsNaN/IsInf and Cast.
#include <cstdint>
#include <string>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// The pointwise ops activation_forward_cpu computes.
enum class UnaryOp : uint8_t {
  // activations
  kRelu, kLeakyRelu, kElu, kSelu, kCelu, kSoftplus, kSoftsign, kSigmoid, kTanh, kHardSigmoid,
  kHardSwish, kMish, kThresholdedRelu, kGelu, kGeluTanh, kErf,
  // unary math
  kSqrt, kExp, kLog, kNeg, kAbs, kReciprocal, kFloor, kCeil, kRound, kSign, kSin, kCos, kTan,
  kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
};

/// Attributes of the parameterized activations (alpha, beta, gamma as ONNX names them).
struct UnaryParams {
  float alpha = 0.0f;
  float beta = 0.0f;
  float gamma = 0.0f;
};

/// y = op(x) elementwise. float16/bfloat16 are computed in float and rounded back. Integer types
/// are accepted by Relu, Neg, Abs, Sign (and Erf); any other dtype throws Error(kBadInput).
ir::Tensor activation_forward_cpu(ThreadPool& pool, UnaryOp op, const UnaryParams& p, const ir::Tensor& x,
                                  const std::string& where);

/// The unary math subset (kSqrt..kAtanh) of activation_forward_cpu.
ir::Tensor unary_math_forward_cpu(ThreadPool& pool, UnaryOp op, const ir::Tensor& x, const std::string& where);

/// y = (x * (erf(x / divisor) + offset)) * scale in one pass: the Div, Erf, Add, Mul, Mul chain
/// that exporters write for exact GELU, elementwise bitwise equal to running those ops one by one
/// (float and double; the constants are rounded to x's type as the ops would see them).
ir::Tensor erf_gelu_forward_cpu(ThreadPool& pool, const ir::Tensor& x, double divisor, double offset, double scale,
                                const std::string& where);

/// y = x < 0 ? slope * x : x, slope broadcast to x (numpy rules; the result must keep x's shape).
ir::Tensor prelu_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& slope, const std::string& where);

/// y = min(max(x, lo), hi); lo/hi are one-element tensors of x's dtype, or null for no bound.
ir::Tensor clip_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor* lo, const ir::Tensor* hi,
                            const std::string& where);

/// Bool tensor: x is NaN (float types, float8 included).
ir::Tensor isnan_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const std::string& where);

/// Bool tensor: x is +inf (when detect_positive) or -inf (when detect_negative).
ir::Tensor isinf_forward_cpu(ThreadPool& pool, const ir::Tensor& x, bool detect_negative, bool detect_positive,
                             const std::string& where);

/// x converted to dtype `to`: every numeric type, bool, float16, bfloat16, the float8 types (with
/// or without saturation), int4/uint4, and string <-> numbers (numpy's text formats).
ir::Tensor cast_forward_cpu(ThreadPool& pool, const ir::Tensor& x, ir::DType to, bool saturate, const std::string& where);

}  // namespace scalec::kernels
