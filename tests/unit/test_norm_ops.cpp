// Normalization, reduction and softmax ops against naive loops, through one-node models run by
// the Executor: the axis combinations, opsets and modes the ONNX node tests do not cover.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "kernels/exec/executor.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::Attribute;
using ir::DType;
using ir::GraphBuilder;
using ir::Tensor;

namespace {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Row-major coordinates of flat index i.
Shape unravel(int64_t i, const Shape& s) {
  Shape idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

Tensor random_floats(const Shape& shape, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (float& f : v) f = dist(rng);
  return Tensor::from_floats(shape, v);
}

Tensor ints(const Shape& shape, std::vector<int64_t> v) { return Tensor::from_int64s(shape, v); }

// One node with the given inputs (an empty name = omitted input), run at `opset`.
std::vector<Tensor> run_op(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& inputs,
                           std::vector<Attribute> attrs, size_t n_outputs, int64_t opset, int threads = 1) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", opset}};
  m.graph = std::make_unique<ir::Graph>("main");
  GraphBuilder b(*m.graph);
  std::vector<ir::Value*> ins;
  kernels::NamedTensors feeds;
  for (const auto& [name, t] : inputs) {
    if (name.empty()) {
      ins.push_back(nullptr);
      continue;
    }
    ins.push_back(b.input(name, t.dtype(), t.shape()));
    feeds.emplace_back(name, t);
  }
  for (ir::Value* v : b.op_n(op, ins, n_outputs, std::move(attrs))) b.output(v);
  kernels::ExecutorOptions opts;
  opts.threads = threads;
  kernels::Executor exec(m, opts);
  std::vector<Tensor> outs;
  for (auto& [name, t] : exec.run(feeds)) outs.push_back(t);
  return outs;
}

void check_close(const Tensor& got, const std::vector<double>& ref, const Shape& shape, double atol = 1e-5,
                 double rtol = 1e-5) {
  REQUIRE(got.shape() == shape);
  REQUIRE(got.numel() == static_cast<int64_t>(ref.size()));
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.element_as_double(i), r = ref[static_cast<size_t>(i)];
    if (std::isnan(r)) {
      CHECK(std::isnan(g));
    } else if (std::isinf(r)) {
      CHECK(g == r);
    } else {
      INFO("element " << i << ": got " << g << ", expected " << r);
      CHECK(test::near(g, r, atol, rtol));
    }
  }
}

// Naive reduction of x over `axes` (normalized), element by element, in double.
std::vector<double> naive_reduce(const std::string& op, const Tensor& x, const std::vector<int64_t>& axes) {
  const Shape& s = x.shape();
  Shape out_shape = s;
  for (int64_t a : axes) out_shape[static_cast<size_t>(a)] = 1;
  const int64_t n_out = numel(out_shape);
  std::vector<std::vector<double>> groups(static_cast<size_t>(n_out));
  for (int64_t i = 0; i < x.numel(); ++i) {
    Shape idx = unravel(i, s);
    for (int64_t a : axes) idx[static_cast<size_t>(a)] = 0;
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d) o = o * out_shape[d] + idx[d];
    groups[static_cast<size_t>(o)].push_back(x.element_as_double(i));
  }
  std::vector<double> out;
  for (const auto& g : groups) {
    double sum = 0, prod = 1, l1 = 0, sq = 0, mx = -INFINITY, mn = INFINITY, se = 0;
    for (double v : g) {
      sum += v;
      prod *= v;
      l1 += std::fabs(v);
      sq += v * v;
      mx = std::max(mx, v);
      mn = std::min(mn, v);
      se += std::exp(v);
    }
    const double n = static_cast<double>(g.size());
    if (op == "ReduceSum") out.push_back(sum);
    else if (op == "ReduceMean") out.push_back(sum / n);
    else if (op == "ReduceProd") out.push_back(prod);
    else if (op == "ReduceL1") out.push_back(l1);
    else if (op == "ReduceL2") out.push_back(std::sqrt(sq));
    else if (op == "ReduceSumSquare") out.push_back(sq);
    else if (op == "ReduceMax") out.push_back(mx);
    else if (op == "ReduceMin") out.push_back(mn);
    else if (op == "ReduceLogSum") out.push_back(std::log(sum));
    else if (op == "ReduceLogSumExp") out.push_back(std::log(se));
  }
  return out;
}

Shape reduced_shape(const Shape& s, const std::vector<int64_t>& axes, bool keepdims) {
  Shape out;
  for (size_t d = 0; d < s.size(); ++d) {
    bool r = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end();
    if (!r) out.push_back(s[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

const char* const kReduceOps[] = {"ReduceSum",  "ReduceMean",   "ReduceProd",      "ReduceL1",       "ReduceL2",
                                  "ReduceMax",  "ReduceMin",    "ReduceLogSum",    "ReduceLogSumExp", "ReduceSumSquare"};

}  // namespace

TEST_CASE("Reduce ops match a naive loop over many axes combinations, attribute and input forms", "[norm][reduce]") {
  const Shape shape = {2, 3, 4, 5};
  // Each entry: axes as written (negative allowed) and the same axes normalized.
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{0}, {0}},       {{1}, {1}},       {{3}, {3}},          {{0, 2}, {0, 2}},         {{1, 3}, {1, 3}},
      {{-1, -3}, {1, 3}}, {{2, 1}, {1, 2}}, {{0, 1, 3}, {0, 1, 3}}, {{0, 1, 2, 3}, {0, 1, 2, 3}}, {{}, {0, 1, 2, 3}}};
  for (const char* op : kReduceOps) {
    const std::string name = op;
    const bool positive = name == "ReduceLogSum" || name == "ReduceProd";
    const Tensor x = random_floats(shape, 7, positive ? 0.5f : -2.f, positive ? 1.5f : 2.f);
    const int64_t input_since = name == "ReduceSum" ? 13 : 18;
    for (const auto& [axes, norm] : cases) {
      for (int64_t keep : {0, 1}) {
        const std::vector<double> ref = naive_reduce(name, x, norm);
        const Shape out_shape = reduced_shape(shape, norm, keep != 0);
        INFO(name << " axes size " << axes.size() << " keepdims " << keep);
        // Opset 11: axes attribute (absent = all axes).
        std::vector<Attribute> attrs = {GraphBuilder::attr("keepdims", keep)};
        if (!axes.empty()) attrs.push_back(GraphBuilder::attr("axes", axes));
        check_close(run_op(name, {{"x", x}}, attrs, 1, 11)[0], ref, out_shape);
        // Axes as an input at the opset that moved them.
        std::vector<std::pair<std::string, Tensor>> ins = {{"x", x}};
        if (!axes.empty()) ins.emplace_back("axes", ints({static_cast<int64_t>(axes.size())}, axes));
        check_close(run_op(name, ins, {GraphBuilder::attr("keepdims", keep)}, 1, input_since)[0], ref, out_shape);
      }
    }
  }
}

TEST_CASE("Reduce ops on random shapes (rank 0 to 5, zero-sized dims) match a naive loop", "[norm][reduce]") {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 150; ++trial) {
    const auto rank = static_cast<size_t>(rng() % 6);
    Shape shape;
    for (size_t d = 0; d < rank; ++d) shape.push_back(static_cast<int64_t>(rng() % (trial % 10 == 0 ? 4 : 5)));
    if (trial % 10 != 0) {
      for (int64_t& d : shape) d = std::max<int64_t>(d, 1);
    }
    std::vector<int64_t> axes;
    for (size_t d = 0; d < rank; ++d) {
      if (rng() % 2) axes.push_back(static_cast<int64_t>(d));
    }
    if (axes.empty()) {
      for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
    }
    const int64_t keep = rng() % 2;
    const Tensor x = random_floats(shape, static_cast<uint32_t>(trial));
    for (const char* op : {"ReduceSum", "ReduceMax", "ReduceLogSumExp", "ReduceL1"}) {
      INFO(op << " trial " << trial << " shape " << ir::shape_to_string(shape) << " keepdims " << keep);
      std::vector<std::pair<std::string, Tensor>> ins = {{"x", x}};
      if (!axes.empty()) ins.emplace_back("axes", ints({static_cast<int64_t>(axes.size())}, axes));
      check_close(run_op(op, ins, {GraphBuilder::attr("keepdims", keep)}, 1, 18)[0], naive_reduce(op, x, axes),
                  reduced_shape(shape, axes, keep != 0));
    }
  }
}

TEST_CASE("Reduce ops on integers wrap and truncate like the element type", "[norm][reduce]") {
  std::vector<int64_t> v = {5, -3, 7, 2, -8, 4};
  Tensor x = ints({2, 3}, v);
  auto sum = run_op("ReduceSum", {{"x", x}, {"axes", ints({1}, {1})}}, {GraphBuilder::attr("keepdims", int64_t{0})}, 1, 13)[0];
  CHECK(sum.dtype() == DType::kInt64);
  CHECK(std::vector<int64_t>(sum.values<int64_t>().begin(), sum.values<int64_t>().end()) == std::vector<int64_t>{9, -2});
  auto mx = run_op("ReduceMax", {{"x", x}}, {GraphBuilder::attr("axes", std::vector<int64_t>{0})}, 1, 13)[0];
  CHECK(std::vector<int64_t>(mx.values<int64_t>().begin(), mx.values<int64_t>().end()) == std::vector<int64_t>{5, -3, 7});
  auto mean = run_op("ReduceMean", {{"x", x}}, {GraphBuilder::attr("axes", std::vector<int64_t>{1})}, 1, 13)[0];
  CHECK(std::vector<int64_t>(mean.values<int64_t>().begin(), mean.values<int64_t>().end()) == std::vector<int64_t>{3, 0});
}

TEST_CASE("noop_with_empty_axes applies the element transform without reducing", "[norm][reduce]") {
  const Tensor x = random_floats({3, 4}, 3);
  const Tensor empty_axes = ints({0}, {});
  auto attrs = [] { return std::vector<Attribute>{GraphBuilder::attr("noop_with_empty_axes", int64_t{1})}; };
  auto same = run_op("ReduceSum", {{"x", x}, {"axes", empty_axes}}, attrs(), 1, 13)[0];
  CHECK(same.equals(x));
  auto sq = run_op("ReduceSumSquare", {{"x", x}, {"axes", empty_axes}}, attrs(), 1, 18)[0];
  auto l1 = run_op("ReduceL1", {{"x", x}}, attrs(), 1, 18)[0];
  std::vector<double> ref_sq, ref_abs;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = x.element_as_double(i);
    ref_sq.push_back(v * v);
    ref_abs.push_back(std::fabs(v));
  }
  check_close(sq, ref_sq, {3, 4});
  check_close(l1, ref_abs, {3, 4});
  // Without the flag an empty axes input reduces everything.
  auto all = run_op("ReduceSum", {{"x", x}, {"axes", empty_axes}}, {}, 1, 13)[0];
  check_close(all, naive_reduce("ReduceSum", x, {0, 1}), {1, 1});
}

TEST_CASE("Reducing an empty set gives each reduction's identity", "[norm][reduce]") {
  const Tensor x(DType::kFloat, {2, 0, 3});
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<std::string, double>> expect = {
      {"ReduceSum", 0.0},  {"ReduceProd", 1.0},      {"ReduceMax", -inf}, {"ReduceMin", inf},        {"ReduceL1", 0.0},
      {"ReduceL2", 0.0},   {"ReduceSumSquare", 0.0}, {"ReduceMean", nan}, {"ReduceLogSum", -inf}, {"ReduceLogSumExp", -inf}};
  for (const auto& [op, value] : expect) {
    INFO(op);
    auto y = run_op(op, {{"x", x}, {"axes", ints({1}, {1})}}, {}, 1, 18)[0];
    check_close(y, std::vector<double>(6, value), {2, 1, 3});
  }
  // A zero-sized kept axis gives an empty output.
  auto y = run_op("ReduceSum", {{"x", x}, {"axes", ints({1}, {2})}}, {GraphBuilder::attr("keepdims", int64_t{0})}, 1, 13)[0];
  CHECK(y.shape() == Shape{2, 0});
}

TEST_CASE("A large reduction gives the same bytes on 1 and 3 threads", "[norm][reduce]") {
  const Tensor x = random_floats({2, 300000}, 11);
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceLogSumExp", "ReduceL2"}) {
    INFO(op);
    auto one = run_op(op, {{"x", x}}, {GraphBuilder::attr("axes", std::vector<int64_t>{1})}, 1, 11, 1)[0];
    auto three = run_op(op, {{"x", x}}, {GraphBuilder::attr("axes", std::vector<int64_t>{1})}, 1, 11, 3)[0];
    CHECK(one.equals(three));
    check_close(one, naive_reduce(op, x, {1}), {2, 1}, 1e-6, 1e-6);
  }
  // Two reduced axes that do not merge: the fixed blocks cross from one to the next.
  const Tensor y = random_floats({2, 80, 3, 1000}, 12);
  const auto axes = GraphBuilder::attr("axes", std::vector<int64_t>{1, 3});
  auto one = run_op("ReduceSumSquare", {{"x", y}}, {axes}, 1, 11, 1)[0];
  auto three = run_op("ReduceSumSquare", {{"x", y}}, {axes}, 1, 11, 3)[0];
  CHECK(one.equals(three));
  check_close(one, naive_reduce("ReduceSumSquare", y, {1, 3}), {2, 1, 3, 1}, 1e-6, 1e-6);
}

TEST_CASE("ArgMax and ArgMin: keepdims, negative axis, select_last_index", "[norm][reduce]") {
  // Ties on purpose: values from {0, 1, 2}.
  std::vector<float> v = {1, 2, 2, 0, 2, 1, 0, 0, 1, 2, 2, 1};
  const Tensor x = Tensor::from_floats({2, 3, 2}, v);
  auto run = [&](const char* op, int64_t axis, int64_t keep, int64_t last) {
    return run_op(op, {{"x", x}},
                  {GraphBuilder::attr("axis", axis), GraphBuilder::attr("keepdims", keep),
                   GraphBuilder::attr("select_last_index", last)},
                  1, 13)[0];
  };
  for (const char* op : {"ArgMax", "ArgMin"}) {
    const bool is_max = std::string(op) == "ArgMax";
    for (int64_t last : {0, 1}) {
      auto y = run(op, -2, 0, last);
      REQUIRE(y.shape() == Shape{2, 2});
      for (int64_t n = 0; n < 2; ++n) {
        for (int64_t k = 0; k < 2; ++k) {
          int64_t best = 0;
          for (int64_t c = 1; c < 3; ++c) {
            const float e = v[static_cast<size_t>(n * 6 + c * 2 + k)], b = v[static_cast<size_t>(n * 6 + best * 2 + k)];
            const bool better = is_max ? (last ? e >= b : e > b) : (last ? e <= b : e < b);
            if (better) best = c;
          }
          INFO(op << " last " << last << " n " << n << " k " << k);
          CHECK(y.values<int64_t>()[static_cast<size_t>(n * 2 + k)] == best);
        }
      }
    }
    CHECK(run(op, 1, 1, 0).shape() == Shape{2, 1, 2});
  }
}

TEST_CASE("TopK: largest and smallest, ties in index order, K as attribute and input", "[norm][reduce]") {
  const Tensor x = Tensor::from_floats({2, 5}, std::vector<float>{3, 1, 3, 2, 5, 0, 0, -1, 4, 0});
  auto largest = run_op("TopK", {{"x", x}, {"k", ints({1}, {3})}}, {}, 2, 11);
  CHECK(largest[0].shape() == Shape{2, 3});
  check_close(largest[0], {5, 3, 3, 4, 0, 0}, {2, 3});
  CHECK(std::vector<int64_t>(largest[1].values<int64_t>().begin(), largest[1].values<int64_t>().end()) ==
        std::vector<int64_t>{4, 0, 2, 3, 0, 1});
  auto smallest = run_op("TopK", {{"x", x}, {"k", ints({1}, {2})}}, {GraphBuilder::attr("largest", int64_t{0})}, 2, 11);
  check_close(smallest[0], {1, 2, -1, 0}, {2, 2});
  CHECK(std::vector<int64_t>(smallest[1].values<int64_t>().begin(), smallest[1].values<int64_t>().end()) ==
        std::vector<int64_t>{1, 3, 2, 0});
  // Opset 1: k attribute, along axis 0.
  auto v1 = run_op("TopK", {{"x", x}}, {GraphBuilder::attr("k", int64_t{1}), GraphBuilder::attr("axis", int64_t{0})}, 2, 1);
  check_close(v1[0], {3, 1, 3, 4, 5}, {1, 5});
  CHECK_THROWS_AS(run_op("TopK", {{"x", x}, {"k", ints({1}, {6})}}, {}, 2, 11), scalec::Error);
}

TEST_CASE("CumSum: axis 0 of a matrix, exclusive and reverse", "[norm][reduce]") {
  const Tensor x = Tensor::from_floats({3, 2}, std::vector<float>{1, 2, 3, 4, 5, 6});
  auto run = [&](int64_t excl, int64_t rev) {
    return run_op("CumSum", {{"x", x}, {"axis", ints({}, {0})}},
                  {GraphBuilder::attr("exclusive", excl), GraphBuilder::attr("reverse", rev)}, 1, 14)[0];
  };
  check_close(run(0, 0), {1, 2, 4, 6, 9, 12}, {3, 2});
  check_close(run(1, 0), {0, 0, 1, 2, 4, 6}, {3, 2});
  check_close(run(0, 1), {9, 12, 8, 10, 5, 6}, {3, 2});
  check_close(run(1, 1), {8, 10, 5, 6, 0, 0}, {3, 2});
}

TEST_CASE("Softmax, LogSoftmax, Hardmax: one axis (13+) and the 2-D coercion (1-12)", "[norm][softmax]") {
  const Shape shape = {2, 3, 4};
  const Tensor x = random_floats(shape, 5, -30.f, 30.f);
  // Groups of flat indices normalized together, for an axis view [outer, n, inner].
  auto naive = [&](const std::string& op, int64_t outer, int64_t n, int64_t inner) {
    std::vector<double> out(static_cast<size_t>(x.numel()));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        auto at = [&](int64_t k) { return (o * n + k) * inner + i; };
        double mx = -INFINITY, sum = 0;
        int64_t arg = 0;
        for (int64_t k = 0; k < n; ++k) {
          if (x.element_as_double(at(k)) > mx) {
            mx = x.element_as_double(at(k));
            arg = k;
          }
        }
        for (int64_t k = 0; k < n; ++k) sum += std::exp(x.element_as_double(at(k)) - mx);
        for (int64_t k = 0; k < n; ++k) {
          const double v = x.element_as_double(at(k));
          double& y = out[static_cast<size_t>(at(k))];
          if (op == "Softmax") y = std::exp(v - mx) / sum;
          else if (op == "LogSoftmax") y = v - mx - std::log(sum);
          else y = k == arg ? 1.0 : 0.0;
        }
      }
    }
    return out;
  };
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    INFO(op);
    check_close(run_op(op, {{"x", x}}, {GraphBuilder::attr("axis", int64_t{1})}, 1, 13)[0], naive(op, 2, 3, 4), shape);
    check_close(run_op(op, {{"x", x}}, {GraphBuilder::attr("axis", int64_t{-3})}, 1, 13)[0], naive(op, 1, 2, 12), shape);
    check_close(run_op(op, {{"x", x}}, {}, 1, 13)[0], naive(op, 6, 4, 1), shape);
    // Opset 11 reads [2, 3*4] at axis 1 (the default).
    check_close(run_op(op, {{"x", x}}, {}, 1, 11)[0], naive(op, 2, 12, 1), shape);
    check_close(run_op(op, {{"x", x}}, {GraphBuilder::attr("axis", int64_t{2})}, 1, 11)[0], naive(op, 6, 4, 1), shape);
  }
  // Hardmax marks only the first of tied maxima.
  auto h = run_op("Hardmax", {{"x", Tensor::from_floats({1, 3}, std::vector<float>{2, 2, 1})}}, {}, 1, 13)[0];
  check_close(h, {1, 0, 0}, {1, 3});
}

TEST_CASE("BatchNormalization training mode matches a hand computation", "[norm][batchnorm]") {
  // X [N=2, C=2, 2]: channel 0 holds 1,2,3,4 / 5,6,7,8 ... computed by hand below.
  const Tensor x = Tensor::from_floats({2, 2, 2}, std::vector<float>{1, 3, 10, 14, 5, 7, 12, 16});
  const Tensor scale = Tensor::from_floats({2}, std::vector<float>{2, 0.5f});
  const Tensor bias = Tensor::from_floats({2}, std::vector<float>{1, -1});
  const Tensor mean = Tensor::from_floats({2}, std::vector<float>{0.5f, 2});
  const Tensor var = Tensor::from_floats({2}, std::vector<float>{1, 4});
  // Channel 0: 1, 3, 5, 7 -> mean 4, var (9+1+1+9)/4 = 5. Channel 1: 10, 14, 12, 16 -> mean 13, var (9+1+1+9)/4 = 5.
  const double eps = 1e-2, momentum = 0.8;
  auto outs = run_op("BatchNormalization", {{"x", x}, {"s", scale}, {"b", bias}, {"m", mean}, {"v", var}},
                     {GraphBuilder::attr("training_mode", int64_t{1}), GraphBuilder::attr("epsilon", static_cast<float>(eps)),
                      GraphBuilder::attr("momentum", static_cast<float>(momentum))},
                     3, 15);
  const double k = 1.0 / std::sqrt(5.0 + static_cast<float>(eps));
  const double y0 = 2 * k, y1 = 0.5 * k;
  check_close(outs[0], {y0 * -3 + 1, y0 * -1 + 1, y1 * -3 - 1, y1 * 1 - 1, y0 * 1 + 1, y0 * 3 + 1, y1 * -1 - 1, y1 * 3 - 1},
              {2, 2, 2});
  const double m = static_cast<float>(momentum);
  check_close(outs[1], {0.5 * m + 4 * (1 - m), 2 * m + 13 * (1 - m)}, {2});
  check_close(outs[2], {1 * m + 5 * (1 - m), 4 * m + 5 * (1 - m)}, {2});

  // Opset 9 trains when the statistics outputs are requested, and returns the batch statistics too.
  auto old = run_op("BatchNormalization", {{"x", x}, {"s", scale}, {"b", bias}, {"m", mean}, {"v", var}},
                    {GraphBuilder::attr("epsilon", static_cast<float>(eps)), GraphBuilder::attr("momentum", static_cast<float>(momentum))},
                    5, 9);
  CHECK(old[0].equals(outs[0]));
  check_close(old[3], {4, 13}, {2});
  check_close(old[4], {5, 5}, {2});
}

TEST_CASE("BatchNormalization inference: per channel, and per activation with spatial=0", "[norm][batchnorm]") {
  const Tensor x = random_floats({3, 2, 4}, 9);
  const Tensor scale = random_floats({2}, 1), bias = random_floats({2}, 2), mean = random_floats({2}, 3);
  const Tensor var = random_floats({2}, 4, 0.5f, 2.f);
  auto y = run_op("BatchNormalization", {{"x", x}, {"s", scale}, {"b", bias}, {"m", mean}, {"v", var}}, {}, 1, 15)[0];
  std::vector<double> ref;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / 4) % 2;
    ref.push_back(scale.element_as_double(c) * (x.element_as_double(i) - mean.element_as_double(c)) /
                      std::sqrt(var.element_as_double(c) + 1e-5) + bias.element_as_double(c));
  }
  check_close(y, ref, {3, 2, 4});
  // spatial=0 (opset 7): parameters of shape [C, D], one per activation.
  const Tensor s2 = random_floats({2, 4}, 5), b2 = random_floats({2, 4}, 6), m2 = random_floats({2, 4}, 7);
  const Tensor v2 = random_floats({2, 4}, 8, 0.5f, 2.f);
  auto y2 = run_op("BatchNormalization", {{"x", x}, {"s", s2}, {"b", b2}, {"m", m2}, {"v", v2}},
                   {GraphBuilder::attr("spatial", int64_t{0})}, 1, 7)[0];
  ref.clear();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t p = i % 8;
    ref.push_back(s2.element_as_double(p) * (x.element_as_double(i) - m2.element_as_double(p)) /
                      std::sqrt(v2.element_as_double(p) + 1e-5) + b2.element_as_double(p));
  }
  check_close(y2, ref, {3, 2, 4});
  // A scale of the wrong size is refused with the node named.
  try {
    run_op("BatchNormalization", {{"x", x}, {"s", random_floats({3}, 1)}, {"b", bias}, {"m", mean}, {"v", var}}, {}, 1, 15);
    FAIL("expected an error");
  } catch (const scalec::Error& e) {
    CHECK(std::string(e.what()).rfind("[BatchNormalization node", 0) == 0);
    CHECK(e.code() == scalec::ExitCode::kBadInput);
  }
}

TEST_CASE("LayerNormalization with axis=-2, broadcast Scale and B, Mean and InvStdDev", "[norm][layernorm]") {
  const Shape shape = {2, 3, 4};
  const Tensor x = random_floats(shape, 21);
  const Tensor scale = random_floats({3, 4}, 22);
  const Tensor bias = random_floats({4}, 23);  // broadcast over the normalized shape [3, 4]
  auto outs = run_op("LayerNormalization", {{"x", x}, {"s", scale}, {"b", bias}},
                     {GraphBuilder::attr("axis", int64_t{-2}), GraphBuilder::attr("epsilon", 1e-3f)}, 3, 17);
  std::vector<double> ref, ref_mean, ref_inv;
  for (int64_t r = 0; r < 2; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < 12; ++j) mean += x.element_as_double(r * 12 + j) / 12;
    for (int64_t j = 0; j < 12; ++j) var += std::pow(x.element_as_double(r * 12 + j) - mean, 2) / 12;
    const double inv = 1 / std::sqrt(var + static_cast<double>(1e-3f));
    for (int64_t j = 0; j < 12; ++j) {
      ref.push_back((x.element_as_double(r * 12 + j) - mean) * inv * scale.element_as_double(j) + bias.element_as_double(j % 4));
    }
    ref_mean.push_back(mean);
    ref_inv.push_back(inv);
  }
  check_close(outs[0], ref, shape);
  check_close(outs[1], ref_mean, {2, 1, 1});
  check_close(outs[2], ref_inv, {2, 1, 1});
  CHECK(outs[1].dtype() == DType::kFloat);
  // Without B, and with a Scale that does not fit the normalized shape.
  auto no_bias = run_op("LayerNormalization", {{"x", x}, {"s", scale}}, {GraphBuilder::attr("axis", int64_t{1})}, 1, 17)[0];
  CHECK(no_bias.shape() == shape);
  CHECK_THROWS_AS(run_op("LayerNormalization", {{"x", x}, {"s", random_floats({2}, 1)}}, {}, 1, 17), scalec::Error);
}

TEST_CASE("InstanceNormalization and GroupNormalization against naive loops", "[norm][groupnorm]") {
  const Shape shape = {2, 4, 3};
  const Tensor x = random_floats(shape, 31);
  const Tensor scale = random_floats({4}, 32), bias = random_floats({4}, 33);
  const Tensor gscale = random_floats({2}, 34), gbias = random_floats({2}, 35);
  // Normalizes groups of `per` consecutive channels.
  auto naive = [&](int64_t per, const std::function<int64_t(int64_t)>& param_index, const Tensor& s, const Tensor& b) {
    std::vector<double> out(static_cast<size_t>(x.numel()));
    const int64_t len = per * 3;
    for (int64_t g = 0; g < x.numel() / len; ++g) {
      double mean = 0, var = 0;
      for (int64_t j = 0; j < len; ++j) mean += x.element_as_double(g * len + j) / static_cast<double>(len);
      for (int64_t j = 0; j < len; ++j) var += std::pow(x.element_as_double(g * len + j) - mean, 2) / static_cast<double>(len);
      for (int64_t j = 0; j < len; ++j) {
        const int64_t c = ((g * len + j) / 3) % 4;
        const int64_t p = param_index(c);
        out[static_cast<size_t>(g * len + j)] =
            (x.element_as_double(g * len + j) - mean) / std::sqrt(var + 1e-5) * s.element_as_double(p) + b.element_as_double(p);
      }
    }
    return out;
  };
  auto channel = [](int64_t c) { return c; };
  check_close(run_op("InstanceNormalization", {{"x", x}, {"s", scale}, {"b", bias}}, {}, 1, 6)[0],
              naive(1, channel, scale, bias), shape);
  const auto groups = GraphBuilder::attr("num_groups", int64_t{2});
  check_close(run_op("GroupNormalization", {{"x", x}, {"s", scale}, {"b", bias}}, {groups}, 1, 21)[0],
              naive(2, channel, scale, bias), shape);
  check_close(run_op("GroupNormalization", {{"x", x}, {"s", gscale}, {"b", gbias}}, {groups}, 1, 18)[0],
              naive(2, [](int64_t c) { return c / 2; }, gscale, gbias), shape);
  CHECK_THROWS_AS(run_op("GroupNormalization", {{"x", x}, {"s", scale}, {"b", bias}},
                         {GraphBuilder::attr("num_groups", int64_t{3})}, 1, 21),
                  scalec::Error);
}

TEST_CASE("LpNormalization and MeanVarianceNormalization against naive loops", "[norm]") {
  const Shape shape = {2, 3, 2, 2};
  const Tensor x = random_floats(shape, 41);
  for (int64_t p : {1, 2}) {
    std::vector<double> ref(static_cast<size_t>(x.numel()));
    for (int64_t n = 0; n < 2; ++n) {
      for (int64_t s = 0; s < 4; ++s) {
        double norm = 0;
        for (int64_t c = 0; c < 3; ++c) {
          const double v = x.element_as_double(n * 12 + c * 4 + s);
          norm += p == 1 ? std::fabs(v) : v * v;
        }
        if (p == 2) norm = std::sqrt(norm);
        for (int64_t c = 0; c < 3; ++c) ref[static_cast<size_t>(n * 12 + c * 4 + s)] = x.element_as_double(n * 12 + c * 4 + s) / norm;
      }
    }
    check_close(run_op("LpNormalization", {{"x", x}}, {GraphBuilder::attr("axis", int64_t{1}), GraphBuilder::attr("p", p)}, 1, 1)[0],
                ref, shape);
  }
  // MVN over axes [0, 2, 3] (the default): per channel.
  std::vector<double> ref(static_cast<size_t>(x.numel()));
  for (int64_t c = 0; c < 3; ++c) {
    double mean = 0, var = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t s = 0; s < 4; ++s) mean += x.element_as_double(n * 12 + c * 4 + s) / 8;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t s = 0; s < 4; ++s) var += std::pow(x.element_as_double(n * 12 + c * 4 + s) - mean, 2) / 8;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t s = 0; s < 4; ++s)
        ref[static_cast<size_t>(n * 12 + c * 4 + s)] = (x.element_as_double(n * 12 + c * 4 + s) - mean) / (std::sqrt(var) + 1e-9);
  }
  check_close(run_op("MeanVarianceNormalization", {{"x", x}}, {}, 1, 13)[0], ref, shape);
}

TEST_CASE("Bad axes and unsupported types are refused with the node named", "[norm]") {
  const Tensor x = random_floats({2, 3}, 1);
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const scalec::Error& e) {
      CHECK(e.code() == scalec::ExitCode::kBadInput);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message([&] { run_op("ReduceSum", {{"x", x}, {"axes", ints({1}, {2})}}, {}, 1, 13); }).rfind("[ReduceSum node", 0) == 0);
  CHECK(message([&] { run_op("ReduceMean", {{"x", x}}, {GraphBuilder::attr("axes", std::vector<int64_t>{1, -1})}, 1, 13); })
            .find("twice") != std::string::npos);
  CHECK(message([&] { run_op("Softmax", {{"x", x}}, {GraphBuilder::attr("axis", int64_t{2})}, 1, 13); }).rfind("[Softmax node", 0) == 0);
  CHECK(message([&] { run_op("Softmax", {{"x", ints({2}, {1, 2})}}, {}, 1, 13); }).find("int64") != std::string::npos);
  CHECK(message([&] { run_op("ArgMax", {{"x", Tensor(DType::kFloat, {0, 3})}}, {}, 1, 13); }).rfind("[ArgMax node", 0) == 0);
}
