// Control flow run by the Executor (kernels/exec/control_flow.h): a Loop whose condition never turns
// false is refused at the iteration limit instead of running forever; trip counts are read exactly.
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/exec/executor.h"
#include "kernels/exec/run_limits.h"

using namespace scalec;
using Catch::Matchers::Contains;

namespace {

// Loop(M, cond, v): body v_out = v_in + 1, cond_out = cond_in (so the condition never changes).
ir::Model counting_loop(bool with_trip_count, int64_t trip) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", 13});
  m.graph = std::make_unique<ir::Graph>("g");
  ir::Graph& g = *m.graph;
  ir::GraphBuilder b(g);
  ir::Value* v0 = b.input("v0", ir::DType::kFloat, std::vector<int64_t>{1});
  ir::Value* cond = b.initializer("cond", [] {
    ir::Tensor t(ir::DType::kBool, {});
    t.mutable_bytes()[0] = std::byte{1};
    return t;
  }());
  ir::Value* m_in = with_trip_count ? b.initializer("M", ir::Tensor::from_int64s({}, std::vector<int64_t>{trip})) : nullptr;
  auto body = std::make_shared<ir::Graph>("body", &g);
  ir::GraphBuilder bb(*body);
  bb.input("i", ir::DType::kInt64, std::vector<int64_t>{});
  ir::Value* c_in = bb.input("c_in", ir::DType::kBool, std::vector<int64_t>{});
  ir::Value* v_in = bb.input("v_in", ir::DType::kFloat, std::vector<int64_t>{1});
  ir::Value* one = bb.initializer("one", ir::Tensor::from_floats({1}, std::vector<float>{1.0f}));
  ir::Value* c_out = bb.op("Identity", {c_in});
  ir::Value* v_out = bb.op("Add", {v_in, one});
  body->outputs = {c_out, v_out};
  ir::Value* v = g.create_value("v");
  ir::Node* loop = g.add_node("Loop", {m_in, cond, v0}, {v});
  ir::Attribute a;
  a.name = "body";
  a.kind = ir::Attribute::Kind::kGraph;
  a.g = body;
  loop->set_attribute(a);
  g.outputs.push_back(v);
  return m;
}

}  // namespace

TEST_CASE("a Loop runs its trip count, and one that never ends is refused at the limit", "[executor][control-flow]") {
  const kernels::NamedTensors feeds = {{"v0", ir::Tensor::from_floats({1}, std::vector<float>{0.0f})}};
  {
    ir::Model m = counting_loop(true, 7);
    kernels::Executor exec(m);
    CHECK(exec.run(feeds).front().second.values<float>()[0] == 7.0f);
  }
  {
    ir::Model m = counting_loop(true, -3);  // a negative trip count runs nothing
    kernels::Executor exec(m);
    CHECK(exec.run(feeds).front().second.values<float>()[0] == 0.0f);
  }
  kernels::set_max_loop_iterations(50);
  ir::Model m = counting_loop(false, 0);  // condition only, and it stays true
  kernels::Executor exec(m);
  CHECK_THROWS_WITH(exec.run(feeds), Contains("ran 50 iterations without ending"));
  kernels::set_max_loop_iterations(0);
  CHECK(kernels::max_loop_iterations() == 10'000'000);
}
