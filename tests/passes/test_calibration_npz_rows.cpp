// NpzRowReader: rows read on demand equal read_npz's arrays (scalec- and numpy-written files,
// zip64 records), unstreamable members refused or loaded on request, and bad files refused.
#include <filesystem>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/npz_rows.h"
#include "support/test_support.h"

using namespace scalec;
using Catch::Matchers::Contains;

namespace {

std::filesystem::path fixture(const std::string& name) { return test::source_dir() / "tests" / "passes" / "data" / name; }

// Rows [b, e) of `t`, cut in memory.
ir::Tensor rows_of(const ir::Tensor& t, int64_t b, int64_t e) {
  std::vector<int64_t> shape = t.shape();
  const size_t row = shape[0] == 0 ? 0 : t.storage_bytes() / static_cast<size_t>(shape[0]);
  shape[0] = e - b;
  ir::Tensor out(t.dtype(), shape);
  std::copy_n(t.bytes().data() + static_cast<size_t>(b) * row, out.storage_bytes(), out.mutable_bytes().data());
  return out;
}

// Every array of `path` read whole by read_npz equals NpzRowReader's rows, for several cuts.
void check_same_rows(const std::string& path) {
  const auto whole = onnx_io::read_npz(path);
  onnx_io::NpzRowReader reader(path);
  REQUIRE(reader.members().size() == whole.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    const auto& [name, t] = whole[i];
    const onnx_io::NpzMember& m = reader.members()[i];
    CAPTURE(path, name);
    CHECK(m.name == name);
    CHECK(m.dtype == t.dtype());
    CHECK(m.shape == t.shape());
    CHECK(m.streamed);
    if (t.rank() == 0) continue;
    const int64_t n = t.shape()[0];
    using Cut = std::pair<int64_t, int64_t>;
    for (auto [b, e] : std::initializer_list<Cut>{{0, n}, {0, std::min<int64_t>(1, n)}, {n / 3, n - n / 3}, {n, n}}) {
      CAPTURE(b, e);
      CHECK(reader.read_rows(name, b, e).equals(rows_of(t, b, e)));
    }
  }
}

std::string refusal(const std::string& path, const onnx_io::NpzRowOptions& options = {}) {
  try {
    onnx_io::NpzRowReader reader(path, options);
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    return e.what();
  }
  FAIL("NpzRowReader accepted " << path);
  return {};
}

}  // namespace

TEST_CASE("npz rows: scalec- and numpy-written files read row by row equal read_npz", "[npz_rows]") {
  test::TempDir dir;
  const std::string path = (dir / "data.npz").string();
  ir::Tensor x(ir::DType::kFloat, {10, 3, 4}), h(ir::DType::kFloat16, {10, 2});
  auto xv = x.mutable_values<float>();
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>(i) * 0.5f - 7;
  auto hb = h.mutable_bytes();
  for (size_t i = 0; i < hb.size(); ++i) hb[i] = static_cast<std::byte>(i * 7);
  std::vector<int64_t> labels = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  onnx_io::write_npz(path, {{"x", x}, {"half", h}, {"labels", ir::Tensor::from_int64s({10}, labels)},
                            {"empty", ir::Tensor(ir::DType::kFloat, {0, 5})}});
  check_same_rows(path);
  check_same_rows((test::source_dir() / "test_models" / "digits_val.npz").string());  // np.savez
  check_same_rows((test::source_dir() / "tests" / "io" / "data" / "alltypes.npz").string());
  check_same_rows(fixture("zip64.npz").string());  // zip64 extra fields and end records

  onnx_io::NpzRowReader reader(path);
  REQUIRE(reader.find("x") != nullptr);
  CHECK(reader.find("nope") == nullptr);
  CHECK_THROWS_WITH(reader.read_rows("nope", 0, 1), Contains("no array named 'nope'"));
  CHECK_THROWS_WITH(reader.read_rows("x", 3, 11), Contains("rows [3, 11) are outside its 10 rows"));
  CHECK_THROWS_WITH(reader.read_rows("x", 4, 3), Contains("outside"));
  onnx_io::NpzRowReader copy = reader;  // copies share the open file
  CHECK(copy.read_rows("labels", 9, 10).values<int64_t>()[0] == 9);
}

TEST_CASE("npz rows: compressed and Fortran-ordered members are refused or loaded whole on request", "[npz_rows]") {
  const std::string compressed = (test::source_dir() / "tests" / "io" / "data" / "compressed.npz").string();
  CHECK_THAT(refusal(compressed), Contains("member 'a.npy' is compressed (np.savez_compressed)") && Contains("np.savez"));
  onnx_io::NpzRowReader loaded(compressed, {.load_unstreamable = true});
  CHECK_FALSE(loaded.find("a")->streamed);
  const auto whole = onnx_io::read_npz(compressed);
  CHECK(loaded.read_rows("a", 1, 3).equals(rows_of(whole[0].second, 1, 3)));
  CHECK(loaded.read_rows("b", 0, 3).equals(whole[1].second));

  const std::string fortran = fixture("fortran.npz").string();
  CHECK_THAT(refusal(fortran), Contains("member 'f.npy' is Fortran-ordered"));
  onnx_io::NpzRowReader f(fortran, {.load_unstreamable = true});
  CHECK(f.find("c")->streamed);
  CHECK_FALSE(f.find("f")->streamed);
  CHECK(f.read_rows("f", 1, 2).equals(f.read_rows("c", 1, 2)));  // same values, C order either way
}

TEST_CASE("npz rows: missing, empty, truncated and corrupt files are refused", "[npz_rows][bad_input]") {
  test::TempDir dir;
  const std::string good = (dir / "good.npz").string();
  onnx_io::write_npz(good, {{"x", ir::Tensor(ir::DType::kFloat, {4, 16})}});
  const std::string bytes = test::read_bytes(good);
  CHECK_THAT(refusal((dir / "missing.npz").string()), Contains("cannot read"));
  test::write_bytes(dir / "empty.npz", "");
  CHECK_THAT(refusal((dir / "empty.npz").string()), Contains("empty"));
  test::write_bytes(dir / "text.npz", std::string(100, 'x'));
  CHECK_THAT(refusal((dir / "text.npz").string()), Contains("not an .npz file"));
  for (size_t keep : {bytes.size() - 1, bytes.size() / 2, size_t{30}}) {
    CAPTURE(keep);
    test::write_bytes(dir / "cut.npz", bytes.substr(0, keep));
    CHECK_THAT(refusal((dir / "cut.npz").string()), Contains("truncated"));
  }
  // The central directory intact but the data cut out of the middle: the member runs past the end.
  const size_t data_start = bytes.find("\x93NUMPY");
  REQUIRE(data_start != std::string::npos);
  std::string holed = bytes.substr(0, data_start + 100) + bytes.substr(bytes.size() - 200);
  test::write_bytes(dir / "holed.npz", holed);
  CHECK_THAT(refusal((dir / "holed.npz").string()), Contains("'x.npy'") || Contains("truncated"));
  // A scalar member has no rows.
  const std::string scalar = (dir / "scalar.npz").string();
  onnx_io::write_npz(scalar, {{"s", ir::Tensor::from_floats({}, std::vector<float>{1.5f})}});
  CHECK_THROWS_WITH(onnx_io::NpzRowReader(scalar).read_rows("s", 0, 1), Contains("is a scalar"));
}
