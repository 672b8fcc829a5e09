// The Executor: schedule, taps, release of dead values, and errors that name op, node and opset.
#include <algorithm>
#include <mutex>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/exec/executor.h"

using namespace scalec;
using Catch::Matchers::Contains;

namespace {

ir::Model model_with(int64_t opset) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", opset});
  m.graph = std::make_unique<ir::Graph>("g");
  return m;
}

ir::Tensor floats(std::vector<int64_t> shape, std::vector<float> v) { return ir::Tensor::from_floats(std::move(shape), v); }

}  // namespace

TEST_CASE("executor runs nodes stored out of order and broadcasts", "[executor]") {
  ir::Model m = model_with(13);
  ir::Graph& g = *m.graph;
  ir::GraphBuilder b(g);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2, 3});
  ir::Value* bias = b.initializer("bias", floats({3}, {1, 2, 3}));
  ir::Value* t = g.create_value("t");
  ir::Value* y = g.create_value("y");
  g.add_node("Mul", {t, t}, {y});  // stored before its producer
  g.add_node("Add", {x, bias}, {t});
  g.outputs.push_back(y);
  kernels::Executor exec(m);
  auto out = exec.run({{"x", floats({2, 3}, {0, 1, 2, 3, 4, 5})}});
  REQUIRE(out.size() == 1);
  CHECK(out[0].first == "y");
  auto v = out[0].second.values<float>();
  std::vector<float> expect = {1, 9, 25, 16, 36, 64};
  CHECK(std::vector<float>(v.begin(), v.end()) == expect);
}

TEST_CASE("taps see intermediate values; dead values are released", "[executor]") {
  ir::Model m = model_with(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{1024});
  ir::Value* a = b.op("Add", {x, x});
  ir::Value* c = b.op("Mul", {a, a});
  ir::Value* d = b.op("Sub", {c, x});
  b.output(d);
  kernels::Executor exec(m);
  std::vector<float> seen;
  exec.add_tap(a, [&](const ir::Value& v, const ir::Tensor& t) {
    CHECK(v.name() == a->name());
    seen.push_back(t.values<float>()[1]);
  });
  std::vector<float> in(1024, 1.0f);
  auto out = exec.run({{"x", ir::Tensor::from_floats({1024}, in)}});
  CHECK(seen == std::vector<float>{2.0f});
  CHECK(out[0].second.values<float>()[5] == 3.0f);
  // a is freed once c exists, so at most two 4 KB activations are alive at once.
  CHECK(exec.last_stats().peak_activation_bytes == 2 * 4096);
}

TEST_CASE("executor errors name op, node and opset", "[executor]") {
  ir::Model m = model_with(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, std::vector<int64_t>{2});
  b.output(b.op("NoSuchOp", {x}));
  try {
    kernels::Executor exec(m);
    FAIL("an unknown op was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK_THAT(e.what(), Contains("NoSuchOp") && Contains("NoSuchOp_0") && Contains("opset 13"));
  }
}

TEST_CASE("executor checks feeds against the model's inputs", "[executor]") {
  ir::Model m = model_with(13);
  ir::GraphBuilder b(*m.graph);
  ir::Value* x = b.input("x", ir::DType::kFloat, {ir::Dim::named("N"), ir::Dim::of(3)});
  b.output(b.op("Add", {x, x}));
  kernels::Executor exec(m);
  CHECK_THROWS_WITH(exec.run({}), Contains("no data for model input 'x'"));
  CHECK_THROWS_WITH(exec.run({{"x", floats({2, 4}, std::vector<float>(8))}}), Contains("expects float[N, 3]"));
  CHECK_THROWS_WITH(exec.run({{"x", ir::Tensor(ir::DType::kInt64, {2, 3})}}), Contains("is float but the data is int64"));
  CHECK(exec.run({{"x", floats({5, 3}, std::vector<float>(15, 1.0f))}})[0].second.shape() == std::vector<int64_t>{5, 3});
}

TEST_CASE("thread pool covers the range once, in fixed chunks, and rethrows", "[executor][threads]") {
  kernels::ThreadPool pool(2);
  std::vector<int> hits(1000, 0);
  pool.parallel_for(1000, 10, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) hits[static_cast<size_t>(i)]++;
  });
  CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
  CHECK_THROWS_WITH(pool.parallel_for(100, 1, [](int64_t lo, int64_t) {
                      if (lo > 0) throw std::runtime_error("boom");
                    }),
                    Contains("boom"));
  // The pool is still usable after an exception.
  int64_t total = 0;
  std::mutex mu;
  pool.parallel_for(10, 1, [&](int64_t lo, int64_t hi) {
    std::lock_guard<std::mutex> lock(mu);
    total += hi - lo;
  });
  CHECK(total == 10);
  // Nested loops run inline instead of clobbering the outer job.
  std::vector<int> nested(100, 0);
  pool.parallel_for(10, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      pool.parallel_for(10, 1, [&](int64_t a, int64_t b) {
        for (int64_t j = a; j < b; ++j) nested[static_cast<size_t>(i * 10 + j)]++;
      });
    }
  });
  CHECK(std::all_of(nested.begin(), nested.end(), [](int h) { return h == 1; }));
}
