#pragma once
// Calls a generic lambda with a value of the C++ type matching a tensor's dtype.
#include <cstdint>

#include "ir/dtype.h"
#include "ir/error.h"

namespace scalec::kernels {

/// Runs f(T{}) for the numeric dtypes: float, double, int8..int64, uint8..uint64, bool (as bool).
/// Throws Error(kBadInput) "<where> does not support <dtype>" for any other dtype.
template <typename F>
decltype(auto) dispatch_numeric(ir::DType t, const std::string& where, F&& f) {
  using ir::DType;
  switch (t) {
    case DType::kFloat: return f(float{});
    case DType::kDouble: return f(double{});
    case DType::kInt8: return f(int8_t{});
    case DType::kInt16: return f(int16_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kInt64: return f(int64_t{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kUInt16: return f(uint16_t{});
    case DType::kUInt32: return f(uint32_t{});
    case DType::kUInt64: return f(uint64_t{});
    case DType::kBool: return f(bool{});
    default: throw_bad_input("{} does not support element type {}", where, ir::dtype_name(t));
  }
}

/// Runs f(T{}) for float and double only.
template <typename F>
decltype(auto) dispatch_float(ir::DType t, const std::string& where, F&& f) {
  using ir::DType;
  switch (t) {
    case DType::kFloat: return f(float{});
    case DType::kDouble: return f(double{});
    default: throw_bad_input("{} does not support element type {}", where, ir::dtype_name(t));
  }
}

/// The DType of a C++ element type.
template <typename T>
constexpr ir::DType dtype_of() {
  using ir::DType;
  if constexpr (std::is_same_v<T, float>) return DType::kFloat;
  else if constexpr (std::is_same_v<T, double>) return DType::kDouble;
  else if constexpr (std::is_same_v<T, int8_t>) return DType::kInt8;
  else if constexpr (std::is_same_v<T, int16_t>) return DType::kInt16;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::kInt32;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::kInt64;
  else if constexpr (std::is_same_v<T, uint8_t>) return DType::kUInt8;
  else if constexpr (std::is_same_v<T, uint16_t>) return DType::kUInt16;
  else if constexpr (std::is_same_v<T, uint32_t>) return DType::kUInt32;
  else if constexpr (std::is_same_v<T, uint64_t>) return DType::kUInt64;
  else if constexpr (std::is_same_v<T, bool>) return DType::kBool;
  else static_assert(sizeof(T) == 0, "no ONNX dtype for this type");
}

}  // namespace scalec::kernels
