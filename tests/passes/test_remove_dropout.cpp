// remove-dropout: Dropout leaves the inference graph (and its ratio initializer with it); outputs are
// unchanged, since Dropout is the identity at inference.
#include <catch2/catch.hpp>

#include "kernels/exec/executor.h"
#include "onnx_io/model_io.h"
#include "passes/cleanup/remove_dropout.h"
#include "support/test_support.h"

using namespace scalec;

TEST_CASE("remove-dropout drops Dropout and its now unused ratio, outputs unchanged", "[passes][cleanup]") {
  ir::Model m = onnx_io::load_model((test::source_dir() / "tests" / "reference" / "lenet_fashion_init.onnx").string());
  auto count_dropouts = [&] {
    int n = 0;
    for (const auto& node : m.graph->nodes()) n += node->op_type() == "Dropout";
    return n;
  };
  REQUIRE(count_dropouts() == 1);
  REQUIRE(m.graph->find_value("dropout_ratio") != nullptr);
  ir::Tensor x(ir::DType::kFloat, {2, 1, 28, 28});
  auto xs = x.mutable_values<float>();
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i % 17) / 17.0f;
  const ir::Tensor before = kernels::Executor(m).run({{"input", x}}).front().second;

  passes::RemoveDropout pass;
  CHECK(pass.run(m) == "remove-dropout: 1 Dropout node removed");
  CHECK(count_dropouts() == 0);
  CHECK(m.graph->find_value("dropout_ratio") == nullptr);
  for (const ir::Value* v : m.graph->initializers) CHECK(!v->uses().empty());
  CHECK(kernels::Executor(m).run({{"input", x}}).front().second.equals(before));
  CHECK(pass.run(m) == "remove-dropout: 0 Dropout nodes removed");
}
