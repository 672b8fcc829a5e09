// ONNX TensorProto .pb files, as in the backend test sets (test_data_set_0/input_0.pb).
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "support/test_support.h"

using namespace scalec;
using Catch::Matchers::Contains;
using ir::DType;

namespace {

std::string pb_error(const std::filesystem::path& p) {
  try {
    onnx_io::read_tensor_pb(p.string());
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    return e.what();
  }
  FAIL("no error was thrown");
  return {};
}

}  // namespace

TEST_CASE("data: ONNX TensorProto .pb files", "[data]") {
  auto pb = test::testdata_dir() / "node/test_relu/test_data_set_0/input_0.pb";
  if (!std::filesystem::exists(pb)) FAIL("missing " << pb << " (Debian package libonnx-testdata)");
  std::string name;
  ir::Tensor x = onnx_io::read_tensor_pb(pb.string(), &name);
  CHECK(name == "x");
  CHECK((x.dtype() == DType::kFloat && x.shape() == std::vector<int64_t>{3, 4, 5}));
  // Values printed by onnx.numpy_helper.
  CHECK(x.values<float>()[0] == 1.764052391052246f);
  CHECK(x.values<float>()[1] == 0.40015721321105957f);
  CHECK(x.values<float>()[59] == -0.36274117f);

  test::TempDir dir;
  test::write_bytes(dir / "junk.pb", std::string("\xff\xff\xff\xff garbage", 13));
  CHECK_THAT(pb_error(dir / "junk.pb"),
             Contains("junk.pb' is not an ONNX TensorProto file"));
  test::write_bytes(dir / "empty.pb", "");
  CHECK_THAT(pb_error(dir / "empty.pb"), Contains("empty"));
  std::string cut = test::read_bytes(pb);
  test::write_bytes(dir / "cut.pb", cut.substr(0, cut.size() - 10));
  CHECK_THAT(pb_error(dir / "cut.pb"), Contains("cut.pb"));
}
