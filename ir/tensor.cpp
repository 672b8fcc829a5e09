#include "ir/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "ir/error.h"

namespace scalec::ir {

namespace {
double half_to_double(uint16_t h) {
  int exponent = (h >> 10) & 0x1f;
  int mantissa = h & 0x3ff;
  double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

double bfloat16_to_double(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <typename T>
T load(const std::byte* p, int64_t i) {
  T v;
  std::memcpy(&v, p + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return v;
}

// A shape whose element count (times 8 bytes, the widest element) fits in int64: a product that
// wraps would allocate a small buffer that kernels then index past.
void check_shape_size(const std::vector<int64_t>& shape) {
  int64_t n = 8;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) {
      throw_bad_input("a tensor of shape {} cannot be allocated: {}", shape_to_string(shape),
                      d < 0 ? "negative dimension" : "its size overflows a 64-bit count");
    }
  }
}
}  // namespace

Tensor::Tensor(DType dtype, std::vector<int64_t> shape)
    : dtype_(dtype), shape_(std::move(shape)) {
  check_shape_size(shape_);
  if (dtype_ == DType::kString) {
    strings_.resize(static_cast<size_t>(numel()));
  } else {
    storage_ = Storage::allocate(storage_bytes());
  }
}

Tensor Tensor::uninitialized(DType dtype, std::vector<int64_t> shape) {
  if (dtype == DType::kString) return Tensor(dtype, std::move(shape));
  check_shape_size(shape);
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = Storage::allocate_uninitialized(t.storage_bytes());
  return t;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape, std::shared_ptr<Storage> storage)
    : dtype_(dtype), shape_(std::move(shape)), storage_(std::move(storage)) {
  if (!storage_ || storage_->size() != storage_bytes()) {
    throw_internal("tensor of {} {} needs {} bytes, storage has {}", dtype_name(dtype_),
                   shape_to_string(shape_), storage_bytes(), storage_ ? storage_->size() : 0);
  }
}

Tensor Tensor::from_strings(std::vector<int64_t> shape, std::vector<std::string> values) {
  Tensor t;
  t.dtype_ = DType::kString;
  t.shape_ = std::move(shape);
  if (static_cast<int64_t>(values.size()) != t.numel()) {
    throw_internal("string tensor {} given {} values", shape_to_string(t.shape_), values.size());
  }
  t.strings_ = std::move(values);
  return t;
}

Tensor Tensor::from_floats(std::vector<int64_t> shape, std::span<const float> values) {
  Tensor t(DType::kFloat, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel()) throw_internal("from_floats: size mismatch");
  if (!values.empty()) std::memcpy(t.mutable_bytes().data(), values.data(), values.size_bytes());
  return t;
}

Tensor Tensor::from_int64s(std::vector<int64_t> shape, std::span<const int64_t> values) {
  Tensor t(DType::kInt64, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel()) throw_internal("from_int64s: size mismatch");
  if (!values.empty()) std::memcpy(t.mutable_bytes().data(), values.data(), values.size_bytes());
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

std::span<const std::byte> Tensor::bytes() const {
  if (!storage_) return {};
  return {storage_->data(), storage_->size()};
}

std::span<std::byte> Tensor::mutable_bytes() {
  if (!storage_) return {};
  if (storage_->is_mapped() || storage_.use_count() > 1) {
    auto copy = Storage::allocate(storage_->size());
    if (storage_->size() > 0) std::memcpy(copy->mutable_data(), storage_->data(), storage_->size());
    storage_ = std::move(copy);
  }
  return {storage_->mutable_data(), storage_->size()};
}

double Tensor::element_as_double(int64_t i) const {
  const std::byte* p = bytes().data();
  switch (dtype_) {
    case DType::kFloat: return load<float>(p, i);
    case DType::kDouble: return load<double>(p, i);
    case DType::kFloat16: return half_to_double(load<uint16_t>(p, i));
    case DType::kBFloat16: return bfloat16_to_double(load<uint16_t>(p, i));
    case DType::kInt8: return load<int8_t>(p, i);
    case DType::kUInt8: return load<uint8_t>(p, i);
    case DType::kBool: return load<uint8_t>(p, i) != 0;
    case DType::kInt16: return load<int16_t>(p, i);
    case DType::kUInt16: return load<uint16_t>(p, i);
    case DType::kInt32: return load<int32_t>(p, i);
    case DType::kUInt32: return load<uint32_t>(p, i);
    case DType::kInt64: return static_cast<double>(load<int64_t>(p, i));
    case DType::kUInt64: return static_cast<double>(load<uint64_t>(p, i));
    case DType::kInt4:
    case DType::kUInt4: {
      // Two elements per byte, element 2k in the low nibble (ONNX packing).
      auto byte = static_cast<uint8_t>(p[static_cast<size_t>(i / 2)]);
      int nibble = (i % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
      if (dtype_ == DType::kInt4 && nibble >= 8) nibble -= 16;
      return nibble;
    }
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

bool Tensor::equals(const Tensor& other) const {
  if (dtype_ != other.dtype_ || shape_ != other.shape_) return false;
  if (dtype_ == DType::kString) return strings_ == other.strings_;
  auto a = bytes();
  auto b = other.bytes();
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace scalec::ir
