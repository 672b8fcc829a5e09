#pragma once
// Tensor: element type, shape, and shared storage (owned or mapped from a file), with a device tag.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/dtype.h"
#include "ir/storage.h"

namespace scalec::ir {

/// Where a tensor's bytes live. Only the kind and ordinal: no CUDA type appears outside kernels/cuda.
struct Device {
  enum class Kind : uint8_t { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = 0;
  bool operator==(const Device&) const = default;
};

/// A dense tensor. Copies share storage; mutable_bytes() copies first when the storage is shared
/// or mapped (copy-on-write), so a mapped input file is never written.
class Tensor {
 public:
  Tensor() = default;
  /// Zero-filled owned tensor.
  Tensor(DType dtype, std::vector<int64_t> shape);
  /// Tensor over existing storage; the storage must hold exactly storage_bytes().
  Tensor(DType dtype, std::vector<int64_t> shape, std::shared_ptr<Storage> storage);
  /// A string tensor (ONNX STRING elements are variable-length, kept outside Storage).
  static Tensor from_strings(std::vector<int64_t> shape, std::vector<std::string> values);
  /// An owned numeric tensor whose elements are not initialized: for kernels that write them all.
  static Tensor uninitialized(DType dtype, std::vector<int64_t> shape);
  /// Copies `values` into a new float tensor (tests and builders).
  static Tensor from_floats(std::vector<int64_t> shape, std::span<const float> values);
  /// Copies `values` into a new int64 tensor.
  static Tensor from_int64s(std::vector<int64_t> shape, std::span<const int64_t> values);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const;
  /// Bytes of the packed element data (strings: 0).
  size_t storage_bytes() const { return dtype_storage_bytes(dtype_, numel()); }
  const Device& device() const { return device_; }

  std::span<const std::byte> bytes() const;
  std::span<std::byte> mutable_bytes();
  template <typename T>
  std::span<const T> values() const {
    auto b = bytes();
    return {reinterpret_cast<const T*>(b.data()), b.size() / sizeof(T)};
  }
  template <typename T>
  std::span<T> mutable_values() {
    auto b = mutable_bytes();
    return {reinterpret_cast<T*>(b.data()), b.size() / sizeof(T)};
  }
  const std::vector<std::string>& strings() const { return strings_; }

  /// The storage, e.g. to learn whether it is mapped from an external data file.
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  /// Element i converted to double (numeric types of 8 bits or more, and int4/uint4).
  double element_as_double(int64_t i) const;
  /// Same dtype, shape and bytes (strings compared by value).
  bool equals(const Tensor& other) const;

 private:
  DType dtype_ = DType::kUndefined;
  std::vector<int64_t> shape_;
  std::shared_ptr<Storage> storage_;
  std::vector<std::string> strings_;
  Device device_;
};

/// "[2, 3, 4]"
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace scalec::ir
