// CPU unary math: Sqrt Exp Log Neg Abs Reciprocal Floor Ceil Round Sign Sin Cos Tan Asin Acos Atan
// Sinh Cosh Asinh Acosh Atanh. Neg, Abs and Sign also take integers (Neg only signed ones).
#include <cmath>
#include <type_traits>

#include "kernels/common/activation_math.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/activation_map.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

// Neg, Abs, Sign on integer tensors.
Tensor integer_math(ThreadPool& pool, UnaryOp op, const Tensor& x, const std::string& where) {
  return dispatch_numeric(x.dtype(), where, [&](auto t) -> Tensor {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool> || std::is_floating_point_v<T>) {
      throw_internal("{} integer_math called for {}", where, ir::dtype_name(x.dtype()));
    } else if constexpr (std::is_unsigned_v<T>) {
      if (op == UnaryOp::kNeg) throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
      if (op == UnaryOp::kAbs) return Tensor(x.dtype(), x.shape(), x.storage());
      return unary_map<T, T>(pool, x, [](T v) { return static_cast<T>(v > 0 ? 1 : 0); });
    } else {
      // Negating the most negative value wraps (two's complement), as numpy and ONNX Runtime do.
      using U = std::make_unsigned_t<T>;
      if (op == UnaryOp::kNeg) return unary_map<T, T>(pool, x, [](T v) { return static_cast<T>(U(0) - static_cast<U>(v)); });
      if (op == UnaryOp::kAbs) {
        return unary_map<T, T>(pool, x, [](T v) { return v < 0 ? static_cast<T>(U(0) - static_cast<U>(v)) : v; });
      }
      return unary_map<T, T>(pool, x, [](T v) { return sign(v); });
    }
  });
}

bool is_integer(DType t) {
  return t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64 || t == DType::kUInt8 ||
         t == DType::kUInt16 || t == DType::kUInt32 || t == DType::kUInt64;
}

}  // namespace

Tensor unary_math_forward_cpu(ThreadPool& pool, UnaryOp op, const Tensor& x, const std::string& where) {
  if (is_integer(x.dtype())) {
    if (op == UnaryOp::kNeg || op == UnaryOp::kAbs || op == UnaryOp::kSign) return integer_math(pool, op, x, where);
    throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
  }
  switch (op) {
    case UnaryOp::kSqrt: return map_float(pool, x, where, [](auto v) { return std::sqrt(v); });
    case UnaryOp::kExp: return map_float(pool, x, where, [](auto v) { return std::exp(v); });
    case UnaryOp::kLog: return map_float(pool, x, where, [](auto v) { return std::log(v); });
    case UnaryOp::kNeg: return map_float(pool, x, where, [](auto v) { return -v; });
    case UnaryOp::kAbs: return map_float(pool, x, where, [](auto v) { return std::fabs(v); });
    case UnaryOp::kReciprocal: return map_float(pool, x, where, [](auto v) { return decltype(v)(1) / v; });
    case UnaryOp::kFloor: return map_float(pool, x, where, [](auto v) { return std::floor(v); });
    case UnaryOp::kCeil: return map_float(pool, x, where, [](auto v) { return std::ceil(v); });
    case UnaryOp::kRound: return map_float(pool, x, where, [](auto v) { return round_half_even(v); });
    case UnaryOp::kSign: return map_float(pool, x, where, [](auto v) { return sign(v); });
    case UnaryOp::kSin: return map_float(pool, x, where, [](auto v) { return std::sin(v); });
    case UnaryOp::kCos: return map_float(pool, x, where, [](auto v) { return std::cos(v); });
    case UnaryOp::kTan: return map_float(pool, x, where, [](auto v) { return std::tan(v); });
    case UnaryOp::kAsin: return map_float(pool, x, where, [](auto v) { return std::asin(v); });
    case UnaryOp::kAcos: return map_float(pool, x, where, [](auto v) { return std::acos(v); });
    case UnaryOp::kAtan: return map_float(pool, x, where, [](auto v) { return std::atan(v); });
    case UnaryOp::kSinh: return map_float(pool, x, where, [](auto v) { return std::sinh(v); });
    case UnaryOp::kCosh: return map_float(pool, x, where, [](auto v) { return std::cosh(v); });
    case UnaryOp::kAsinh: return map_float(pool, x, where, [](auto v) { return std::asinh(v); });
    case UnaryOp::kAcosh: return map_float(pool, x, where, [](auto v) { return std::acosh(v); });
    case UnaryOp::kAtanh: return map_float(pool, x, where, [](auto v) { return std::atanh(v); });
    default: throw_internal("{} unknown unary math op {}", where, static_cast<int>(op));
  }
}

}  // namespace scalec::kernels
