// share-initializers: equal float initializers become one, readers see the same values; graph
// inputs, outputs and other dtypes keep theirs.
#include <catch2/catch.hpp>

#include "ir/graph_builder.h"
#include "ir/verifier.h"
#include "passes/cleanup/share_initializers.h"

namespace scalec {
namespace {

TEST_CASE("share-initializers: equal weights are stored once, different ones stay", "[share-initializers]") {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", 17}};
  m.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3});
  const std::vector<float> w = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  ir::Value* w1 = b.initializer("w1", ir::Tensor::from_floats({3, 3}, w));
  ir::Value* w2 = b.initializer("w2", ir::Tensor::from_floats({3, 3}, w));             // equal to w1
  ir::Value* w3 = b.initializer("w3", ir::Tensor::from_floats({9}, w));                // same bytes, other shape
  ir::Value* shape = b.initializer("shape", ir::Tensor::from_int64s({2}, std::vector<int64_t>{2, 3}));
  ir::Value* h = b.op("MatMul", {b.op("MatMul", {x, w1}), w2});
  ir::Value* flat = b.op("Reshape", {w3, b.initializer("shape9", ir::Tensor::from_int64s({2}, std::vector<int64_t>{3, 3}))});
  b.output(b.op("Reshape", {b.op("MatMul", {h, flat}), shape}), ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 3}));

  CHECK(passes::share_identical_initializers(*m.graph) == 1);
  CHECK(m.graph->find_value("w2") == nullptr);
  CHECK(m.graph->find_value("w1")->uses().size() == 2);
  CHECK(m.graph->find_value("w3") != nullptr);
  CHECK(m.graph->initializers.size() == 4);
  CHECK(ir::verify(m).ok());
  CHECK(passes::share_identical_initializers(*m.graph) == 0);
}

}  // namespace
}  // namespace scalec
