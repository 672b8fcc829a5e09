// ir/dtype, ir/storage and ir/tensor: element sizes, copy-on-write, mapped storage, element reads.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ir/dtype.h"
#include "ir/error.h"
#include "ir/storage.h"
#include "ir/tensor.h"
#include "support/test_support.h"
#include "support/tolerance.h"

using namespace scalec::ir;
using scalec::test::near;

namespace {
// A tensor of `dtype` whose raw bytes are `raw` (packed as stored).
Tensor raw_tensor(DType dtype, std::vector<int64_t> shape, const std::vector<uint8_t>& raw) {
  Tensor t(dtype, std::move(shape));
  auto b = t.mutable_bytes();
  REQUIRE(b.size() == raw.size());
  std::memcpy(b.data(), raw.data(), raw.size());
  return t;
}

// float16 / bfloat16 tensors from 16-bit patterns (little-endian, as ONNX stores them).
Tensor half_tensor(DType dtype, const std::vector<uint16_t>& bits) {
  std::vector<uint8_t> raw;
  for (uint16_t h : bits) {
    raw.push_back(static_cast<uint8_t>(h & 0xff));
    raw.push_back(static_cast<uint8_t>(h >> 8));
  }
  return raw_tensor(dtype, {static_cast<int64_t>(bits.size())}, raw);
}
}  // namespace

TEST_CASE("dtype bits, names and storage bytes", "[tensor][dtype]") {
  CHECK(dtype_bits(DType::kFloat) == 32);
  CHECK(dtype_bits(DType::kBFloat16) == 16);
  CHECK(dtype_bits(DType::kInt4) == 4);
  CHECK(dtype_bits(DType::kString) == 0);
  CHECK(dtype_name(DType::kFloat) == "float");
  CHECK(dtype_name(DType::kInt8) == "int8");
  CHECK(dtype_is_float(DType::kFloat16));
  CHECK_FALSE(dtype_is_float(DType::kInt64));
  CHECK_FALSE(dtype_is_known(0));
  CHECK(dtype_is_known(22));
  CHECK_FALSE(dtype_is_known(99));

  CHECK(dtype_storage_bytes(DType::kFloat, 6) == 24);
  CHECK(dtype_storage_bytes(DType::kInt4, 4) == 2);
  CHECK(dtype_storage_bytes(DType::kInt4, 5) == 3);  // odd count rounds up to a whole byte
  CHECK(dtype_storage_bytes(DType::kUInt4, 1) == 1);
  CHECK(Tensor(DType::kInt4, {3}).storage_bytes() == 2);
}

TEST_CASE("dtype_name spells an unknown type number as unknown", "[tensor][dtype]") {
  CHECK(dtype_name(static_cast<DType>(99)) == "unknown");
  CHECK(dtype_name(static_cast<DType>(-1)) == "unknown");
}

TEST_CASE("Tensor is zero-initialized and counts elements", "[tensor]") {
  Tensor t(DType::kFloat, {2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.rank() == 2);
  CHECK(t.storage_bytes() == 24);
  auto v = t.values<float>();
  REQUIRE(v.size() == 6);
  for (float x : v) CHECK(x == 0.0f);
  CHECK(Tensor(DType::kFloat, {}).numel() == 1);  // a scalar
  CHECK(Tensor(DType::kFloat, {4, 0}).numel() == 0);
}

TEST_CASE("from_floats and from_int64s copy the values", "[tensor]") {
  std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f};
  Tensor tf = Tensor::from_floats({2, 2}, f);
  CHECK(tf.dtype() == DType::kFloat);
  CHECK(tf.shape() == std::vector<int64_t>{2, 2});
  CHECK(tf.element_as_double(2) == 3.25);
  f[0] = 99.0f;  // the tensor holds its own copy
  CHECK(tf.values<float>()[0] == 1.5f);

  std::vector<int64_t> i = {-7, 1LL << 40};
  Tensor ti = Tensor::from_int64s({2}, i);
  CHECK(ti.dtype() == DType::kInt64);
  CHECK(ti.values<int64_t>()[1] == (1LL << 40));
  CHECK(ti.element_as_double(0) == -7.0);
}

TEST_CASE("copies share storage until one is written (copy-on-write)", "[tensor]") {
  std::vector<float> f = {1, 2, 3};
  Tensor a = Tensor::from_floats({3}, f);
  Tensor b = a;
  CHECK(a.storage() == b.storage());
  b.mutable_values<float>()[1] = 20.0f;
  CHECK(a.storage() != b.storage());
  CHECK(a.values<float>()[1] == 2.0f);
  CHECK(b.values<float>()[1] == 20.0f);
  CHECK_FALSE(a.equals(b));
}

TEST_CASE("a tensor over mapped storage reads the file and copies before a write", "[tensor][storage]") {
  scalec::test::TempDir dir;
  std::vector<float> payload = {0.5f, -1.0f, 4.0f};
  std::string bytes = "HEAD";
  bytes.append(reinterpret_cast<const char*>(payload.data()), payload.size() * sizeof(float));
  scalec::test::write_bytes(dir / "weights.bin", bytes);

  auto file = MappedFile::open((dir / "weights.bin").string());
  REQUIRE(file->size() == bytes.size());
  auto storage = Storage::map(file, 4, 8);  // the first two floats after the header
  CHECK(storage->is_mapped());
  CHECK(storage->file_offset() == 4);
  CHECK_THROWS_AS(storage->mutable_data(), scalec::Error);

  Tensor t(DType::kFloat, {2}, storage);
  CHECK(t.element_as_double(0) == 0.5);
  CHECK(t.element_as_double(1) == -1.0);

  t.mutable_values<float>()[0] = 7.0f;
  CHECK_FALSE(t.storage()->is_mapped());
  CHECK(t.element_as_double(0) == 7.0);
  CHECK(t.element_as_double(1) == -1.0);  // the rest was copied
  CHECK(std::memcmp(storage->data(), payload.data(), 8) == 0);  // the mapping is untouched
  CHECK(scalec::test::read_bytes(dir / "weights.bin") == bytes);
}

TEST_CASE("Storage::map outside the file throws kBadInput", "[tensor][storage]") {
  scalec::test::TempDir dir;
  scalec::test::write_bytes(dir / "small.bin", std::string(16, 'x'));
  auto file = MappedFile::open((dir / "small.bin").string());
  CHECK_NOTHROW(Storage::map(file, 8, 8));
  try {
    Storage::map(file, 12, 8);
    FAIL("Storage::map accepted a window past the end of the file");
  } catch (const scalec::Error& e) {
    CHECK(e.code() == scalec::ExitCode::kBadInput);
    CHECK_THAT(e.what(), Catch::Contains("small.bin"));
  }
  CHECK_THROWS_AS(Storage::map(file, 17, 0), scalec::Error);
  CHECK_THROWS_AS(MappedFile::open((dir / "missing.bin").string()), scalec::Error);
}

TEST_CASE("element_as_double reads float16 and bfloat16", "[tensor]") {
  Tensor h = half_tensor(DType::kFloat16, {0x3C00, 0xC000, 0x0001, 0x3555, 0x7C00});
  CHECK(h.element_as_double(0) == 1.0);
  CHECK(h.element_as_double(1) == -2.0);
  CHECK(h.element_as_double(2) == std::ldexp(1.0, -24));  // smallest subnormal
  CHECK(near(h.element_as_double(3), 1.0 / 3.0, 0, 1e-3));
  CHECK(std::isinf(h.element_as_double(4)));

  Tensor bf = half_tensor(DType::kBFloat16, {0x3F80, 0xC040, 0x3EAB});
  CHECK(bf.element_as_double(0) == 1.0);
  CHECK(bf.element_as_double(1) == -3.0);
  CHECK(near(bf.element_as_double(2), 1.0 / 3.0, 0, 1e-2));
}

TEST_CASE("element_as_double unpacks int4 and uint4 nibbles, low nibble first", "[tensor]") {
  // Elements: 0x9F -> [0xF, 0x9], 0x71 -> [0x1, 0x7], 0x08 -> [0x8] (+ padding nibble).
  Tensor i4 = raw_tensor(DType::kInt4, {5}, {0x9F, 0x71, 0x08});
  CHECK(i4.element_as_double(0) == -1.0);
  CHECK(i4.element_as_double(1) == -7.0);
  CHECK(i4.element_as_double(2) == 1.0);
  CHECK(i4.element_as_double(3) == 7.0);
  CHECK(i4.element_as_double(4) == -8.0);

  Tensor u4 = raw_tensor(DType::kUInt4, {3}, {0x9F, 0x08});
  CHECK(u4.element_as_double(0) == 15.0);
  CHECK(u4.element_as_double(1) == 9.0);
  CHECK(u4.element_as_double(2) == 8.0);
}

TEST_CASE("equals compares dtype, shape and bytes", "[tensor]") {
  std::vector<float> f = {1, 2, 3, 4};
  Tensor a = Tensor::from_floats({2, 2}, f);
  CHECK(a.equals(Tensor::from_floats({2, 2}, f)));
  CHECK_FALSE(a.equals(Tensor::from_floats({4}, f)));           // shape differs
  Tensor i = raw_tensor(DType::kInt32, {2, 2}, std::vector<uint8_t>(a.bytes().size(), 0));
  std::memcpy(i.mutable_bytes().data(), a.bytes().data(), a.bytes().size());
  CHECK_FALSE(a.equals(i));                                      // same bytes, other dtype
  CHECK(Tensor::from_strings({2}, {"a", "b"}).equals(Tensor::from_strings({2}, {"a", "b"})));
  CHECK_FALSE(Tensor::from_strings({2}, {"a", "b"}).equals(Tensor::from_strings({2}, {"a", "c"})));
}
