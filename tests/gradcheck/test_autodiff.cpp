// Autodiff itself: gradients summed over several consumers, paths without gradients, errors.
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/exec/autodiff.h"
#include "support/gradcheck.h"

using namespace scalec;
using test::GradInput;

TEST_CASE("a value read twice gets the sum of both gradients", "[gradcheck][autodiff]") {
  // y = x * x: Mul's rule gives each operand the other one; autodiff sums them to 2x.
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 17}};
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kDouble, std::vector<int64_t>{3, 4});
  b.output(b.op("Add", {b.op("Mul", {x, x}), x}));
  CHECK(test::gradcheck_model(m, {{"x", test::random_doubles({3, 4}, 1)}}, {"x"}) == "");
}

TEST_CASE("an op without a backward rule on the path is named", "[gradcheck][autodiff]") {
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", 17}};
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{4});
  b.output(b.op("Round", {x}));
  try {
    kernels::Autodiff ad(m, {x});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("no backward rule for Round") != std::string::npos);
  }
}
