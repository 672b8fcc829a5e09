// FakeQuantize against PyTorch 1.13 (tests/reference/make_fake_quant_reference.py writes the
// expectations): torch.fake_quantize_per_channel_affine (forward and the straight-through dx) and
// the LSQ layers torch._fake_quantize_learnable_per_channel_affine / _per_tensor_affine (forward,
// dx and dscale with its grad_factor). Forward and dx agree exactly; dscale is a sum, so its order
// differs from PyTorch's: 1e-5 relative.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "kernels/exec/autodiff.h"
#include "kernels/exec/executor.h"
#include "kernels/ops/fake_quant_op.h"
#include "kernels/ops/op_registry.h"
#include "onnx_io/data_files.h"
#include "support/test_support.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::Tensor;

namespace {

std::map<std::string, Tensor> load_reference() {
  std::map<std::string, Tensor> out;
  for (auto& [k, t] : onnx_io::read_npz((test::source_dir() / "tests" / "reference" / "fake_quant_torch.npz").string())) {
    out[k] = t;
  }
  return out;
}

// "" when every element of `got` is within atol + rtol |ref| of `ref`.
std::string compare(const Tensor& got, const Tensor& ref, double atol, double rtol, const std::string& what) {
  if (got.shape() != ref.shape()) return what + ": shapes differ";
  for (int64_t i = 0; i < ref.numel(); ++i) {
    if (!test::near(got.element_as_double(i), ref.element_as_double(i), atol, rtol)) {
      std::string all;
      for (int64_t k = 0; k < ref.numel(); ++k) all += fmt::format(" {}/{}", got.element_as_double(k), ref.element_as_double(k));
      return fmt::format("{}[{}]: scalec {}, PyTorch {} ({})", what, i, got.element_as_double(i), ref.element_as_double(i), all);
    }
  }
  return "";
}

// Runs case `tag` through FakeQuantize (training forward + backward) and compares with PyTorch.
// grad_scale < 0: FakeQuantize's own LSQ factor (lsq=1).
void check_case(const std::map<std::string, Tensor>& ref, const std::string& tag, double grad_scale, bool learnable) {
  const Tensor& x = ref.at(tag + "_x");
  const Tensor& range = ref.at(tag + "_range");
  const int64_t qmin = static_cast<int64_t>(range.element_as_double(0)), qmax = static_cast<int64_t>(range.element_as_double(1));
  const int64_t axis = static_cast<int64_t>(range.element_as_double(2));
  Tensor scale = ref.at(tag + "_scale");
  if (axis < 0) scale = Tensor::from_floats({}, scale.values<float>());  // per tensor: a scalar scale
  Tensor zp = ref.at(tag + "_zero_point");
  if (axis < 0) zp = Tensor(ir::DType::kInt32, {}, zp.storage());

  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 17}, {kernels::kFakeQuantDomain, 1}};
  ir::GraphBuilder b(*m.graph);
  ir::Value* xv = b.input("x", ir::DType::kFloat, x.shape());
  ir::Value* sv = b.input("scale", ir::DType::kFloat, scale.shape());
  ir::Value* y = m.graph->create_value("y");
  ir::Node* n = m.graph->add_node("FakeQuantize", {xv, sv, b.initializer("zp", zp)}, {y}, kernels::kFakeQuantDomain);
  n->set_attribute(ir::GraphBuilder::attr("qmin", qmin));
  n->set_attribute(ir::GraphBuilder::attr("qmax", qmax));
  if (axis >= 0) n->set_attribute(ir::GraphBuilder::attr("axis", axis));
  if (grad_scale < 0) n->set_attribute(ir::GraphBuilder::attr("lsq", int64_t{1}));
  else n->set_attribute(ir::GraphBuilder::attr("grad_scale", static_cast<float>(grad_scale)));
  b.output(y);

  kernels::ExecutorOptions eo;
  eo.training = true;
  kernels::Executor exec(m, eo);
  kernels::Autodiff ad(m, {xv, sv});
  const Tensor out = exec.run({{"x", x}, {"scale", scale}}).front().second;
  const std::vector<Tensor> g = ad.backward(exec, {{"y", ref.at(tag + "_dy")}});
  CHECK(compare(out, ref.at(tag + "_y"), 0, 0, tag + " y") == "");
  CHECK(compare(g[0], ref.at(tag + "_dx"), 0, 0, tag + " dx") == "");
  if (learnable) {
    Tensor ds = g[1];
    if (axis < 0) ds = Tensor(ir::DType::kFloat, {1}, ds.storage());
    CHECK(compare(ds, ref.at(tag + "_dscale"), 1e-6, 1e-5, tag + " dscale") == "");
  }
}

}  // namespace

TEST_CASE("FakeQuantize matches torch.fake_quantize_per_channel_affine and PyTorch's LSQ layers", "[train][fake_quant]") {
  const auto ref = load_reference();
  check_case(ref, "pc", 1.0, false);
  check_case(ref, "lsq", -1, true);  // PyTorch's grad_factor 1/sqrt(n * qmax), n = 10 elements per channel
  check_case(ref, "pt", 1.0, true);
}
