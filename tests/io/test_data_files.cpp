// Data files: .npy/.npz written by numpy (fixtures in tests/io/data, made by make_fixtures.py),
// write -> read round trips (npy, npz, pb), and bad files refused with kBadInput.
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "support/test_support.h"

using namespace scalec;
using Catch::Matchers::Contains;
using ir::DType;
using onnx_io::NamedTensor;

namespace {

std::string fixture(const std::string& name) { return (test::source_dir() / "tests/io/data" / name).string(); }

// Runs `f`, which must throw Error(code); returns the message.
template <typename F>
std::string error_of(F f, ExitCode code = ExitCode::kBadInput) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(static_cast<int>(e.code()) == static_cast<int>(code));
    return e.what();
  }
  FAIL("no error was thrown");
  return {};
}

std::vector<double> values_of(const ir::Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.element_as_double(i));
  return v;
}

// A tensor of `dtype` holding 0, 1, 2, ... (bool: 0, 1, 0, ...).
ir::Tensor counting(DType dtype, std::vector<int64_t> shape) {
  ir::Tensor t(dtype, std::move(shape));
  auto b = t.mutable_bytes();
  size_t elem = static_cast<size_t>(ir::dtype_bits(dtype) / 8);
  for (size_t i = 0; i * elem < b.size(); ++i) b[i * elem] = static_cast<std::byte>(dtype == DType::kBool ? i % 2 : i);
  return t;
}

}  // namespace

TEST_CASE("data: digits_val.npz matches what numpy reads", "[data]") {
  auto arrays = onnx_io::read_npz((test::source_dir() / "test_models/digits_val.npz").string());
  REQUIRE(arrays.size() == 2);
  const auto& [xname, x] = arrays[0];
  const auto& [yname, y] = arrays[1];
  CHECK(xname == "input");
  CHECK(yname == "labels");
  CHECK(x.dtype() == DType::kFloat);
  CHECK(x.shape() == std::vector<int64_t>{360, 1, 8, 8});
  CHECK(y.dtype() == DType::kInt64);
  CHECK(y.shape() == std::vector<int64_t>{360});
  // Values printed by /usr/bin/python3 with numpy 1.24.
  auto xv = x.values<float>();
  CHECK(std::vector<float>(xv.begin(), xv.begin() + 8) == std::vector<float>{0, 0, 0.0625f, 0.875f, 1, 1, 0.9375f, 0.0625f});
  CHECK(xv[5 * 64 + 3 * 8 + 3] == 0.1875f);
  CHECK(xv[359 * 64 + 4 * 8 + 2] == 0.8125f);
  double sum = 0;
  for (float v : xv) sum += v;
  CHECK(sum == 7020.75);
  auto yv = y.values<int64_t>();
  CHECK(std::vector<int64_t>(yv.begin(), yv.begin() + 5) == std::vector<int64_t>{7, 9, 4, 7, 0});
  CHECK(yv[359] == 8);
}

TEST_CASE("data: numpy fixtures of every supported kind", "[data]") {
  auto c = onnx_io::read_npz(fixture("compressed.npz"));  // np.savez_compressed: deflated members
  REQUIRE(c.size() == 2);
  CHECK(c[0].first == "a");
  CHECK(c[0].second.shape() == std::vector<int64_t>{3, 4});
  CHECK(values_of(c[0].second) == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(c[1].second.dtype() == DType::kBool);
  CHECK(values_of(c[1].second) == std::vector<double>{1, 0, 1});

  const std::vector<std::pair<std::string, DType>> types = {
      {"f2", DType::kFloat16}, {"f4", DType::kFloat}, {"f8", DType::kDouble}, {"i1", DType::kInt8},
      {"i2", DType::kInt16},   {"i4", DType::kInt32}, {"i8", DType::kInt64},  {"u1", DType::kUInt8},
      {"u2", DType::kUInt16},  {"u4", DType::kUInt32}, {"u8", DType::kUInt64}, {"b1", DType::kBool}};
  auto all = onnx_io::read_npz(fixture("alltypes.npz"));
  REQUIRE(all.size() == types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    INFO(types[i].first);
    CHECK(all[i].first == types[i].first);
    CHECK(all[i].second.dtype() == types[i].second);
    CHECK(values_of(all[i].second) ==
          (types[i].second == DType::kBool ? std::vector<double>{1, 0, 1, 0, 1} : std::vector<double>{0, 1, 2, 3, 4}));
  }

  ir::Tensor v2 = onnx_io::read_npy(fixture("v2.npy"));
  CHECK((v2.dtype() == DType::kInt16 && v2.shape() == std::vector<int64_t>{2, 3}));
  CHECK(values_of(v2) == std::vector<double>{0, 1, 2, 3, 4, 5});
  ir::Tensor v3 = onnx_io::read_npy(fixture("v3.npy"));
  CHECK((v3.dtype() == DType::kUInt16 && v3.shape() == std::vector<int64_t>{3, 2}));
  CHECK(values_of(v3) == std::vector<double>{0, 1, 2, 3, 4, 5});
  CHECK(v3.storage()->is_mapped());  // C order and aligned: mapped, not copied
  CHECK(values_of(onnx_io::read_npy(fixture("bool.npy"))) == std::vector<double>{1, 0, 1});
  ir::Tensor h = onnx_io::read_npy(fixture("float16.npy"));
  CHECK(h.dtype() == DType::kFloat16);
  auto hv = h.values<uint16_t>();
  CHECK(std::vector<uint16_t>(hv.begin(), hv.end()) == std::vector<uint16_t>{0x3C00, 0xC100, 0x7BFF});
  ir::Tensor s = onnx_io::read_npy(fixture("scalar.npy"));
  CHECK((s.dtype() == DType::kDouble && s.shape().empty() && s.values<double>()[0] == 3.5));
  ir::Tensor e = onnx_io::read_npy(fixture("empty.npy"));
  CHECK((e.shape() == std::vector<int64_t>{0, 3} && e.numel() == 0));
  // Fortran order is transposed into C order: element [i, j, k] holds 12i + 4j + k.
  ir::Tensor f = onnx_io::read_npy(fixture("fortran.npy"));
  CHECK(f.shape() == std::vector<int64_t>{2, 3, 4});
  std::vector<double> expect(24);
  for (int i = 0; i < 24; ++i) expect[static_cast<size_t>(i)] = i;
  CHECK(values_of(f) == expect);
}

TEST_CASE("data: unsupported numpy arrays are refused clearly", "[data]") {
  auto npy = [](const char* name) { return error_of([&] { onnx_io::read_npy(fixture(name)); }); };
  CHECK_THAT(npy("bigendian.npy"), Contains("bigendian.npy") && Contains("big-endian data ('>f4')"));
  CHECK_THAT(npy("object.npy"), Contains("object arrays"));
  CHECK_THAT(npy("unicode.npy"), Contains("unsupported dtype '<U2'"));
  CHECK_THAT(npy("compressed.npz"), Contains("not an .npy file"));
  CHECK_THAT(error_of([] { onnx_io::read_npz(fixture("v2.npy")); }), Contains("v2.npy' is not an .npz file"));
  test::TempDir dir;
  CHECK_THAT(error_of([&] { onnx_io::read_npz((dir / "missing.npz").string()); }), Contains("missing.npz"));
  CHECK_THAT(error_of([&] { onnx_io::read_npy(dir.path().string()); }), Contains("is a folder"));
  test::write_bytes(dir / "empty.npz", "");
  CHECK_THAT(error_of([&] { onnx_io::read_npz((dir / "empty.npz").string()); }), Contains("empty (0 bytes)"));
}

TEST_CASE("data: corrupt and truncated .npy bytes", "[data]") {
  std::string good = onnx_io::npy_bytes(counting(DType::kInt32, {2, 5}));
  auto bad = [](const std::string& bytes) {
    return error_of([&] { onnx_io::read_npy_bytes(std::as_bytes(std::span(bytes)), "'x.npy'"); });
  };
  CHECK_THAT(bad(good.substr(0, good.size() - 3)), Contains("'x.npy'") && Contains("truncated") &&
                                                       Contains("int32[2, 5] needs 40 bytes, found 37"));
  CHECK_THAT(bad(good.substr(0, 40)), Contains("truncated .npy file: the header needs 128 bytes"));
  CHECK_THAT(bad(good.substr(0, 7)), Contains("truncated"));
  CHECK_THAT(bad(good + "xx"), Contains("2 bytes follow the data"));
  CHECK_THAT(bad("PK\x03\x04 not numpy"), Contains("not an .npy file"));
  std::string v9 = good;
  v9[6] = 9;
  CHECK_THAT(bad(v9), Contains("unsupported .npy format version 9.0"));
  auto patched = [&](const std::string& from, const std::string& to) {
    std::string b = good;
    b.replace(b.find(from), from.size(), to);
    return bad(b);
  };
  CHECK_THAT(patched("'shape': (2, 5)", "'shape': [2, 5]"), Contains("bad .npy header"));
  CHECK_THAT(patched("'shape': (2, 5)", "'shape': (2,-5)"), Contains("non-negative integers"));
  CHECK_THAT(patched("False", "Fals "), Contains("True or False"));
  CHECK_THAT(patched("'descr'", "'dtype'"), Contains("unknown key 'dtype'"));
  CHECK_THAT(patched("'shape': (2, 5)", "'shape': (2, 6)"), Contains("int32[2, 6] needs 48 bytes, found 40"));
}

TEST_CASE("data: corrupt and truncated .npz files", "[data]") {
  test::TempDir dir;
  std::string path = (dir / "a.npz").string();
  onnx_io::write_npz(path, {{"x", counting(DType::kInt8, {100})}});
  std::string good = test::read_bytes(path);
  auto bad = [&](const std::string& bytes) {
    test::write_bytes(path, bytes);
    return error_of([&] { onnx_io::read_npz(path); });
  };
  CHECK_THAT(bad(good.substr(0, good.size() / 2)), Contains("a.npz' is not an .npz file"));
  CHECK_THAT(bad("just some text that is not a zip archive at all"), Contains("not an .npz file"));
  std::string flipped = good;
  flipped[flipped.find('\n', flipped.find("\x93NUMPY")) + 50] ^= 0x01;  // an element: the CRC no longer matches
  CHECK_THAT(bad(flipped), Contains("member 'x.npy'") && Contains("corrupt member"));
  std::string renamed = good;
  for (size_t at; (at = renamed.find("x.npy")) != std::string::npos;) renamed.replace(at, 5, "x.txt");
  CHECK_THAT(bad(renamed), Contains("member 'x.txt': not an .npy array"));
  std::string reshaped = good;
  reshaped.replace(reshaped.find("(100,)"), 6, "(101,)");
  CHECK_THAT(bad(reshaped), Contains("member 'x.npy'") && Contains("data is shorter than the header says"));

  test::write_bytes(path, test::read_bytes(fixture("compressed.npz")));
  std::string deflated = test::read_bytes(path);
  deflated[deflated.size() / 3] ^= 0x55;  // inside member 'a.npy' (compressed data)
  CHECK_THAT(bad(deflated), Contains("member 'a.npy'"));
}

TEST_CASE("data: write -> read round trips for every dtype", "[data]") {
  test::TempDir dir;
  std::vector<NamedTensor> arrays;
  for (DType t : {DType::kFloat, DType::kDouble, DType::kFloat16, DType::kInt8, DType::kInt16, DType::kInt32,
                  DType::kInt64, DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64, DType::kBool,
                  DType::kComplex64, DType::kComplex128}) {
    arrays.emplace_back(onnx_io::numpy_dtype_name(t), counting(t, {2, 3}));
  }
  arrays.emplace_back("scalar", counting(DType::kFloat, {}));
  arrays.emplace_back("zero_size", counting(DType::kInt64, {0, 4}));
  arrays.emplace_back("vector", counting(DType::kUInt8, {7}));
  std::string npz = (dir / "all.npz").string();
  onnx_io::write_npz(npz, arrays);
  auto back = onnx_io::read_npz(npz);
  REQUIRE(back.size() == arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    INFO(arrays[i].first);
    CHECK(back[i].first == arrays[i].first);
    CHECK(back[i].second.equals(arrays[i].second));
    std::string npy = (dir / (arrays[i].first + ".npy")).string();
    onnx_io::write_npy(npy, arrays[i].second);
    CHECK(onnx_io::read_npy(npy).equals(arrays[i].second));
    std::string pb = (dir / (arrays[i].first + ".pb")).string();
    onnx_io::write_tensor_pb(pb, arrays[i].second, arrays[i].first);
    std::string name;
    CHECK(onnx_io::read_tensor_pb(pb, &name).equals(arrays[i].second));
    CHECK(name == arrays[i].first);
  }
  // Stored members, fixed DOS time 00:00 and date 1980-01-01: the same arrays give the same bytes.
  std::string bytes = test::read_bytes(npz);
  CHECK(bytes.substr(0, 4) == "PK\x03\x04");
  CHECK(bytes.substr(8, 6) == std::string("\0\0\0\0\x21\0", 6));
  onnx_io::write_npz((dir / "again.npz").string(), arrays);
  CHECK(test::read_bytes(dir / "again.npz") == bytes);
  onnx_io::write_npz(npz, {});
  CHECK(onnx_io::read_npz(npz).empty());
}

TEST_CASE("data: failed writes name the path and leave no file", "[data]") {
  test::TempDir dir;
  std::vector<NamedTensor> arrays = {{"x", counting(DType::kFloat, {3})}};
  CHECK_THAT(error_of([&] { onnx_io::write_npz((dir / "no/such/dir/a.npz").string(), arrays); }, ExitCode::kIoError),
             Contains("no/such/dir/a.npz"));
  CHECK_THAT(error_of([&] { onnx_io::write_npz(dir.path().string(), arrays); }, ExitCode::kIoError),
             Contains("is a folder"));
  CHECK_THAT(error_of([&] { onnx_io::write_npy((dir / "no/b.npy").string(), arrays[0].second); }, ExitCode::kIoError),
             Contains("no/b.npy"));
  CHECK_THAT(error_of([&] { onnx_io::write_npz("/dev/full", arrays); }, ExitCode::kIoError), Contains("/dev/full"));
  ir::Tensor bf16(DType::kBFloat16, {2});
  CHECK_THAT(error_of([&] { onnx_io::write_npz((dir / "c.npz").string(), {{"w", bf16}}); }),
             Contains("c.npz': array 'w': NumPy has no bfloat16 dtype"));
  ir::Tensor text = ir::Tensor::from_strings({1}, {"a"});
  CHECK_THAT(error_of([&] { onnx_io::write_npy((dir / "s.npy").string(), text); }),
             Contains("s.npy': NumPy has no string dtype"));
  CHECK_THAT(error_of([&] { onnx_io::write_npz((dir / "d.npz").string(), {arrays[0], arrays[0]}); }),
             Contains("two arrays are named 'x'"));
  CHECK(dir.entries().empty());
}
