#pragma once
// Element types, numbered exactly as ONNX TensorProto.DataType so they convert by value.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace scalec::ir {

/// ONNX element type; values outside the named ones are kept as plain ints (newer ONNX versions).
enum class DType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
};

/// Bits per element (4 for int4/uint4/float4); 0 for undefined, string and unknown types.
int dtype_bits(DType t);
/// ONNX spelling, e.g. "float", "int8"; "unknown" for a number scalec does not know.
std::string_view dtype_name(DType t);
/// True for the floating-point types counted as parameters (float, double, float16, bfloat16, float8).
bool dtype_is_float(DType t);
/// True when scalec knows the type's storage layout.
bool dtype_is_known(int32_t value);
/// Bytes needed to store `numel` elements (sub-byte types packed, rounded up).
size_t dtype_storage_bytes(DType t, int64_t numel);

}  // namespace scalec::ir
