// Shape-only and integer paths carry no gradient, also when the model records no types: the flatten
// torchvision exports write (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) trains through.
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/exec/autodiff.h"
#include "support/gradcheck.h"

using namespace scalec;

namespace {

// x[N, 2, 3] * w -> flatten as torch.flatten(x, 1) exports at opset 13 -> MatMul(w2) -> y, plus
// y * float(Size(h)) through Cast. Intermediate values record no type (value_info stripped).
ir::Model flatten_model() {
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 13}};
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kDouble, {ir::Dim::named("N"), ir::Dim::of(2), ir::Dim::of(3)});
  ir::Value* w = b.input("w", ir::DType::kDouble, std::vector<int64_t>{2, 3});
  ir::Value* w2 = b.input("w2", ir::DType::kDouble, std::vector<int64_t>{6, 4});
  ir::Value* h = b.op("Mul", {x, w});
  ir::Value* n = b.op("Gather", {b.op("Shape", {h}), b.initializer("zero", ir::Tensor::from_int64s({}, std::vector<int64_t>{0}))},
                      {ir::GraphBuilder::attr("axis", int64_t{0})});
  ir::Value* n1 = b.op("Unsqueeze", {n, b.initializer("axes", ir::Tensor::from_int64s({1}, std::vector<int64_t>{0}))});
  ir::Value* shape = b.op("Concat", {n1, b.initializer("minus_one", ir::Tensor::from_int64s({1}, std::vector<int64_t>{-1}))},
                          {ir::GraphBuilder::attr("axis", int64_t{0})});
  ir::Value* y = b.op("MatMul", {b.op("Reshape", {h, shape}), w2});
  ir::Value* size = b.op("Cast", {b.op("Size", {h})}, {ir::GraphBuilder::attr("to", int64_t{11})});
  b.output(b.op("Mul", {y, size}));
  return m;
}

}  // namespace

TEST_CASE("a Shape -> Gather -> Concat -> Reshape flatten without value_info carries no gradient", "[gradcheck][autodiff]") {
  const ir::Model m = flatten_model();
  for (const auto& v : m.graph->values()) {
    if (v->producer()) REQUIRE(!v->type);
  }
  const ir::Value* w = m.graph->find_value("w");
  kernels::Autodiff ad(m, {w, m.graph->find_value("w2")});  // threw "no backward rule for Shape"
  const ir::Value* shape_out = m.graph->nodes()[1]->output(0);
  REQUIRE(m.graph->nodes()[1]->op_type() == "Shape");
  CHECK(!ad.carries_gradient(shape_out));
  CHECK(test::gradcheck_model(m,
                              {{"x", test::random_doubles({2, 2, 3}, 1)},
                               {"w", test::random_doubles({2, 3}, 2)},
                               {"w2", test::random_doubles({6, 4}, 3)}},
                              {"x", "w", "w2"}) == "");
}
