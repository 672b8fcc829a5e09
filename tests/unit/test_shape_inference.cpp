// The shape-inference driver: merging with recorded types, folding shape arithmetic, conflicts.
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/exec/shape_inference.h"

using namespace scalec;
using ir::Dim;

namespace {

ir::Model model_with_opset(int64_t opset) {
  ir::Model m;
  m.graph = std::make_unique<ir::Graph>();
  m.opset_imports = {{"", opset}};
  return m;
}

}  // namespace

TEST_CASE("merging keeps known dims and recorded names, and rejects contradictions", "[shapes][driver]") {
  using ir::TypeInfo;
  TypeInfo recorded = TypeInfo::tensor(ir::DType::kFloat, std::vector<Dim>{Dim::named("N"), Dim{}, Dim::of(4)});
  TypeInfo inferred = TypeInfo::tensor(ir::DType::kFloat, std::vector<Dim>{Dim{}, Dim::of(3), Dim::of(4)});
  auto merged = kernels::merge_types(recorded, inferred);
  REQUIRE(merged);
  CHECK(ir::type_to_string(*merged) == "float[N, 3, 4]");
  CHECK_FALSE(kernels::merge_types(recorded, TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 3, 5})));
  CHECK_FALSE(kernels::merge_types(recorded, TypeInfo::tensor(ir::DType::kInt64, std::vector<int64_t>{2, 3, 4})));
  CHECK_FALSE(kernels::merge_types(recorded, TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 3})));
}

TEST_CASE("Shape -> Gather -> Concat -> Reshape comes out exact for static inputs", "[shapes][driver]") {
  // What exporters write for x.view(x.size(0), -1).
  ir::Model m = model_with_opset(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3, 4});
  ir::Value* shape = b.op("Shape", {x});
  ir::Value* n = b.op("Gather", {shape, b.initializer("zero", ir::Tensor::from_int64s({}, std::vector<int64_t>{0}))});
  ir::Value* n1 = b.op("Unsqueeze", {n, b.initializer("axes", ir::Tensor::from_int64s({1}, std::vector<int64_t>{0}))});
  ir::Value* target = b.op("Concat", {n1, b.initializer("rest", ir::Tensor::from_int64s({1}, std::vector<int64_t>{-1}))},
                           {ir::GraphBuilder::attr("axis", int64_t{0})});
  ir::Value* y = b.op("Reshape", {x, target});
  b.output(y);
  kernels::ShapeInferenceOptions o;
  o.fold_constants = false;  // integer shape arithmetic is folded anyway
  kernels::ShapeInferenceReport r = kernels::infer_shapes(m, o);
  CHECK(r.nodes_without_rule.empty());
  CHECK(ir::type_to_string(*y->type) == "float[2, 12]");
}

TEST_CASE("a symbolic batch dimension flows through", "[shapes][driver]") {
  ir::Model m = model_with_opset(17);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<Dim>{Dim::named("N"), Dim::of(8)});
  ir::Tensor w(ir::DType::kFloat, {8, 4});
  ir::Value* y = b.op("Relu", {b.op("MatMul", {x, b.initializer("w", w)})});
  b.output(y);
  kernels::infer_shapes(m);
  CHECK(ir::type_to_string(*y->type) == "float[N, 4]");
}

TEST_CASE("a recorded type that contradicts an op is an error naming node and value, or listed", "[shapes][driver]") {
  ir::Model m = model_with_opset(17);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3});
  ir::Value* y = b.op("Relu", {x});
  b.output(y, ir::TypeInfo::tensor(ir::DType::kFloat, std::vector<int64_t>{2, 4}));
  try {
    kernels::infer_shapes(m);
    FAIL("expected a conflict");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK_THAT(e.what(), Catch::Contains("Relu") && Catch::Contains("records float[2, 4]") && Catch::Contains("float[2, 3]"));
  }
  kernels::ShapeInferenceOptions lenient;
  lenient.strict = false;
  kernels::ShapeInferenceReport r = kernels::infer_shapes(m, lenient);
  CHECK(r.conflicts.size() == 1);
  CHECK(ir::type_to_string(*y->type) == "float[2, 4]");
}

TEST_CASE("inconsistent input shapes are reported with the node", "[shapes][driver]") {
  ir::Model m = model_with_opset(17);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3});
  ir::Value* w = b.input("w", ir::DType::kFloat, std::vector<int64_t>{4, 5});
  b.output(b.op("MatMul", {x, w}));
  CHECK_THROWS_WITH(kernels::infer_shapes(m), Catch::Contains("MatMul"));
}
