// The opset upgrade reads ranks from shape inference, not only from value_info: a Softmax on an
// intermediate value of a model that records no types upgrades from 9 to 13.
#include <catch2/catch.hpp>

#include "ir/graph_builder.h"
#include "ir/verifier.h"
#include "kernels/exec/executor.h"
#include "passes/core/opset_upgrade.h"
#include "support/seeded_tensors.h"
#include "support/test_support.h"

using namespace scalec;

namespace {

// x[N, 4] -> MatMul(w[4, 5]) -> Softmax(axis) -> y; only the graph input records a type.
ir::Model softmax_model(int64_t axis) {
  ir::Model m = test::empty_model(9);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, {ir::Dim::named("N"), ir::Dim::of(4)});
  ir::Value* h = b.op("MatMul", {x, b.initializer("w", test::seeded_floats({4, 5}, 1, 1.0f))});
  b.output(b.op("Softmax", {h}, {ir::GraphBuilder::attr("axis", axis)}));
  return m;
}

}  // namespace

TEST_CASE("opset upgrade 9 -> 13 takes Softmax's rank from shape inference", "[passes][opset]") {
  ir::Model m = softmax_model(1);
  const ir::Value* h = m.graph->nodes().front()->output(0);
  REQUIRE(!h->type);
  const kernels::NamedTensors feeds = {{"x", test::seeded_floats({3, 4}, 2, 1.0f)}};
  const ir::Tensor before = kernels::Executor(m).run(feeds).front().second;
  passes::upgrade_opset(m, 13);  // threw "the input's rank is not recorded"
  CHECK(m.opset_version() == 13);
  CHECK(!h->type);  // nothing recorded on the way: the upgrade only reads inferred types
  const ir::Attribute* axis = m.graph->nodes().back()->attribute("axis");
  REQUIRE(axis);
  CHECK(axis->i == 1);
  CHECK(ir::verify(m).ok());
  CHECK(kernels::Executor(m).run(feeds).front().second.equals(before));

  // Softmax over axis 0 of a rank-2 input meant "flatten from axis 0" before 13: still refused.
  ir::Model first_axis = softmax_model(0);
  CHECK_THROWS_WITH(passes::upgrade_opset(first_axis, 13), Catch::Contains("only the last axis keeps its meaning"));
}
