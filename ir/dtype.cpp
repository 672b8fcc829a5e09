#include "ir/dtype.h"

#include <array>

namespace scalec::ir {

namespace {
struct DTypeInfo {
  std::string_view name;
  int bits;
  bool is_float;
};
// Indexed by the ONNX DataType number.
constexpr std::array<DTypeInfo, 24> kInfo = {{
    {"undefined", 0, false}, {"float", 32, true},          {"uint8", 8, false},
    {"int8", 8, false},      {"uint16", 16, false},        {"int16", 16, false},
    {"int32", 32, false},    {"int64", 64, false},         {"string", 0, false},
    {"bool", 8, false},      {"float16", 16, true},        {"double", 64, true},
    {"uint32", 32, false},   {"uint64", 64, false},        {"complex64", 64, false},
    {"complex128", 128, false}, {"bfloat16", 16, true},    {"float8e4m3fn", 8, true},
    {"float8e4m3fnuz", 8, true}, {"float8e5m2", 8, true},  {"float8e5m2fnuz", 8, true},
    {"uint4", 4, false},     {"int4", 4, false},           {"float4e2m1", 4, true},
}};

const DTypeInfo* info(DType t) {
  auto i = static_cast<int32_t>(t);
  return (i >= 0 && i < static_cast<int32_t>(kInfo.size())) ? &kInfo[static_cast<size_t>(i)] : nullptr;
}
}  // namespace

int dtype_bits(DType t) {
  const DTypeInfo* d = info(t);
  return d ? d->bits : 0;
}

std::string_view dtype_name(DType t) {
  const DTypeInfo* d = info(t);
  return d ? d->name : std::string_view("unknown");
}

bool dtype_is_float(DType t) {
  const DTypeInfo* d = info(t);
  return d && d->is_float;
}

bool dtype_is_known(int32_t value) {
  return value > 0 && value < static_cast<int32_t>(kInfo.size());
}

size_t dtype_storage_bytes(DType t, int64_t numel) {
  auto bits = static_cast<size_t>(dtype_bits(t));
  return (static_cast<size_t>(numel) * bits + 7) / 8;
}

}  // namespace scalec::ir
