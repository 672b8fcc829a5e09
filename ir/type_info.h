#pragma once
// The type a model records for a value: element type and (possibly symbolic) shape.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/dtype.h"

namespace scalec::ir {

/// One dimension: a number, a symbolic name ("N"), or unknown (neither).
struct Dim {
  std::optional<int64_t> value;
  std::string param;
  std::string denotation;
  static Dim of(int64_t v) { return Dim{v, {}, {}}; }
  static Dim named(std::string p) { return Dim{std::nullopt, std::move(p), {}}; }
  bool operator==(const Dim&) const = default;
};

/// A recorded value type. Tensor types are modelled; other kinds (sequence, map, optional,
/// sparse tensor) are kept as the serialized TypeProto so they pass through untouched.
struct TypeInfo {
  enum class Kind : uint8_t { kTensor, kOpaque };
  Kind kind = Kind::kTensor;
  int32_t elem_type = 0;                  ///< ONNX DataType number; 0 when not recorded
  std::optional<std::vector<Dim>> shape;  ///< nullopt: rank unknown
  std::string denotation;
  std::string opaque;                     ///< serialized TypeProto when kind == kOpaque

  static TypeInfo tensor(DType t, std::vector<Dim> dims) {
    TypeInfo ti;
    ti.elem_type = static_cast<int32_t>(t);
    ti.shape = std::move(dims);
    return ti;
  }
  static TypeInfo tensor(DType t, const std::vector<int64_t>& dims) {
    std::vector<Dim> ds;
    for (int64_t d : dims) ds.push_back(Dim::of(d));
    return tensor(t, std::move(ds));
  }
  DType dtype() const { return static_cast<DType>(elem_type); }
  bool operator==(const TypeInfo&) const = default;
};

/// "float[N, 3, 224, 224]", "float[?]" (unknown rank), "opaque"
std::string type_to_string(const TypeInfo& t);

}  // namespace scalec::ir
