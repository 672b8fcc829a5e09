// Tensor (data movement and shape) ops through the Executor, each against a naive loop on small
// random shapes, for the cases the ONNX node tests do not cover: every dtype size and strings,
// negative axes and steps, large and negative pads, several threads, opset-dependent signatures,
// and the errors a user can cause.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <random>

#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/exec/executor.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::DType;
using ir::GraphBuilder;
using ir::Tensor;
using Catch::Matchers::StartsWith;

namespace {

using Inputs = std::vector<std::optional<Tensor>>;

// Runs one node on initializer inputs (nullopt = omitted input) and returns its outputs.
std::vector<Tensor> run_op(const std::string& op, int64_t opset, const Inputs& inputs, std::vector<ir::Attribute> attrs = {},
                           size_t n_outputs = 1, int threads = 1) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", opset});
  m.graph = std::make_unique<ir::Graph>("g");
  GraphBuilder b(*m.graph);
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) ins.push_back(inputs[i] ? b.initializer("in" + std::to_string(i), *inputs[i]) : nullptr);
  for (ir::Value* v : b.op_n(op, ins, n_outputs, std::move(attrs))) b.output(v);
  kernels::ExecutorOptions opts;
  opts.threads = threads;
  kernels::Executor exec(m, opts);
  std::vector<Tensor> outs;
  for (auto& [name, t] : exec.run({})) outs.push_back(t);
  return outs;
}

Tensor run1(const std::string& op, int64_t opset, const Inputs& inputs, std::vector<ir::Attribute> attrs = {}) {
  return run_op(op, opset, inputs, std::move(attrs)).at(0);
}

// (Not Tensor::from_int64s: it memcpy's from a null pointer for an empty vector.)
Tensor ints(std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  Tensor t(DType::kInt64, std::move(shape));
  std::copy(v.begin(), v.end(), t.mutable_values<int64_t>().begin());
  return t;
}
Tensor ints1(const std::vector<int64_t>& v) { return ints({static_cast<int64_t>(v.size())}, v); }

// A float tensor of `shape` holding 0, 1, 2, ... (distinct values make misplaced elements visible).
Tensor iota(std::vector<int64_t> shape) {
  Tensor t(DType::kFloat, std::move(shape));
  auto v = t.mutable_values<float>();
  std::iota(v.begin(), v.end(), 0.0f);
  return t;
}

std::vector<float> floats_of(const Tensor& t) { return {t.values<float>().begin(), t.values<float>().end()}; }
std::vector<int64_t> int64s_of(const Tensor& t) { return {t.values<int64_t>().begin(), t.values<int64_t>().end()}; }

std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t>& shape) {
  std::vector<int64_t> c(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    c[d] = i % shape[d];
    i /= shape[d];
  }
  return c;
}

int64_t ravel(const std::vector<int64_t>& c, const std::vector<int64_t>& shape) {
  int64_t i = 0;
  for (size_t d = 0; d < shape.size(); ++d) i = i * shape[d] + c[d];
  return i;
}

std::vector<int64_t> random_shape(std::mt19937& rng, int rank, int64_t max_dim = 4) {
  std::vector<int64_t> s;
  for (int d = 0; d < rank; ++d) s.push_back(std::uniform_int_distribution<int64_t>(1, max_dim)(rng));
  return s;
}

// The error message of running `f`, which must throw Error(kBadInput).
template <typename F>
std::string bad_input_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    return e.what();
  }
  FAIL("no error");
  return "";
}

}  // namespace

TEST_CASE("Transpose matches a naive permutation for every element size", "[tensor_ops]") {
  std::mt19937 rng(1);
  for (DType dt : {DType::kFloat, DType::kInt8, DType::kInt16, DType::kDouble}) {
    for (int trial = 0; trial < 12; ++trial) {
      const int rank = 1 + trial % 5;
      std::vector<int64_t> shape = random_shape(rng, rank), perm(static_cast<size_t>(rank));
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      Tensor x(dt, shape);
      auto raw = x.mutable_bytes();
      for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::byte>(rng());
      Tensor y = run1("Transpose", 13, {x}, {GraphBuilder::attr("perm", perm)});
      const size_t e = raw.size() / static_cast<size_t>(x.numel());
      for (int64_t i = 0; i < y.numel(); ++i) {
        std::vector<int64_t> oc = unravel(i, y.shape()), ic(static_cast<size_t>(rank));
        for (int d = 0; d < rank; ++d) ic[static_cast<size_t>(perm[static_cast<size_t>(d)])] = oc[static_cast<size_t>(d)];
        REQUIRE(std::memcmp(y.bytes().data() + static_cast<size_t>(i) * e,
                            x.bytes().data() + static_cast<size_t>(ravel(ic, shape)) * e, e) == 0);
      }
    }
  }
}

TEST_CASE("Slice with negative steps, axes and out-of-range bounds matches a naive walk", "[tensor_ops]") {
  std::mt19937 rng(2);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<int64_t> shape = random_shape(rng, 1 + trial % 3, 6);
    Tensor x = iota(shape);
    const auto rank = static_cast<int64_t>(shape.size());
    int64_t axis = pick(-rank, rank - 1), start = pick(-8, 8), end = pick(-8, 8), step = pick(-3, 3);
    if (step == 0) step = 1;
    Tensor y = run1("Slice", 13, {x, ints1({start}), ints1({end}), ints1({axis}), ints1({step})});
    // The indices ONNX selects: start/end made non-negative and clamped, then walked by step.
    const int64_t a = axis < 0 ? axis + rank : axis, dim = shape[static_cast<size_t>(a)];
    int64_t s = start < 0 ? start + dim : start, e = end < 0 ? end + dim : end;
    std::vector<int64_t> picked;
    if (step > 0) {
      for (int64_t i = std::clamp<int64_t>(s, 0, dim); i < std::clamp<int64_t>(e, 0, dim); i += step) picked.push_back(i);
    } else {
      for (int64_t i = std::clamp<int64_t>(s, 0, dim - 1); i > std::clamp<int64_t>(e, -1, dim - 1); i += step) picked.push_back(i);
    }
    std::vector<int64_t> want_shape = shape;
    want_shape[static_cast<size_t>(a)] = static_cast<int64_t>(picked.size());
    REQUIRE(y.shape() == want_shape);
    for (int64_t i = 0; i < y.numel(); ++i) {
      std::vector<int64_t> c = unravel(i, want_shape);
      c[static_cast<size_t>(a)] = picked[static_cast<size_t>(c[static_cast<size_t>(a)])];
      REQUIRE(y.values<float>()[static_cast<size_t>(i)] == static_cast<float>(ravel(c, shape)));
    }
  }
}

TEST_CASE("Slice with extreme steps and bounds does not overflow", "[tensor_ops]") {
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  Tensor x = iota({5});
  CHECK(floats_of(run1("Slice", 13, {x, ints1({small}), ints1({big}), ints1({0}), ints1({big})})) == std::vector<float>{0});
  CHECK(floats_of(run1("Slice", 13, {x, ints1({big}), ints1({small}), ints1({0}), ints1({small})})) == std::vector<float>{4});
  CHECK(floats_of(run1("Slice", 13, {x, ints1({-1}), ints1({small}), ints1({0}), ints1({-2})})) == std::vector<float>{4, 2, 0});
  CHECK(run1("Slice", 13, {Tensor(DType::kFloat, {0, 2}), ints1({-1}), ints1({small}), ints1({0}), ints1({-1})}).numel() == 0);
  CHECK(floats_of(run1("Slice", 9, {x}, {GraphBuilder::attr("starts", std::vector<int64_t>{1}),
                                          GraphBuilder::attr("ends", std::vector<int64_t>{-1})})) == std::vector<float>{1, 2, 3});
}

TEST_CASE("Pad reflect/edge/wrap/constant with large and negative pads matches a naive mapping", "[tensor_ops]") {
  std::mt19937 rng(3);
  for (const char* mode : {"reflect", "edge", "wrap", "constant"}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<int64_t> shape = random_shape(rng, 1 + trial % 3, 4);
      const auto rank = shape.size();
      std::vector<int64_t> pads(2 * rank);
      for (size_t d = 0; d < rank; ++d) {
        pads[d] = std::uniform_int_distribution<int64_t>(-(shape[d] - 1) / 2, 7)(rng);
        pads[d + rank] = std::uniform_int_distribution<int64_t>(-(shape[d] - 1) / 2, 7)(rng);
      }
      Tensor x = iota(shape);
      Tensor cv = Tensor::from_floats({}, std::vector<float>{-5.0f});
      Tensor y = run1("Pad", 18, {x, ints1(pads), cv}, {GraphBuilder::attr("mode", std::string(mode))});
      for (int64_t i = 0; i < y.numel(); ++i) {
        std::vector<int64_t> c = unravel(i, y.shape());
        bool outside = false;
        for (size_t d = 0; d < rank; ++d) {
          int64_t k = c[d] - pads[d], n = shape[d];
          if (std::string(mode) == "constant") {
            outside = outside || k < 0 || k >= n;
          } else if (std::string(mode) == "edge") {
            k = std::clamp<int64_t>(k, 0, n - 1);
          } else if (std::string(mode) == "wrap") {
            while (k < 0) k += n;
            k %= n;
          } else {
            while (n > 1 && (k < 0 || k >= n)) k = k < 0 ? -k : 2 * (n - 1) - k;  // numpy's repeated reflection
            if (n == 1) k = 0;
          }
          c[d] = k;
        }
        const float want = outside ? -5.0f : static_cast<float>(ravel(c, shape));
        REQUIRE(y.values<float>()[static_cast<size_t>(i)] == want);
      }
    }
  }
}

TEST_CASE("Pad signatures: paddings (1), pads/value attributes (2-10), axes input (18)", "[tensor_ops]") {
  Tensor x = iota({2, 2});
  Tensor a = run1("Pad", 1, {x}, {GraphBuilder::attr("paddings", std::vector<int64_t>{0, 1, 0, 0}), GraphBuilder::attr("value", 7.0f)});
  CHECK(floats_of(a) == std::vector<float>{7, 0, 1, 7, 2, 3});
  Tensor b = run1("Pad", 2, {x}, {GraphBuilder::attr("pads", std::vector<int64_t>{1, 0, 0, 0})});
  CHECK(floats_of(b) == std::vector<float>{0, 0, 0, 1, 2, 3});
  Tensor c = run1("Pad", 18, {x, ints1({1, 0}), std::nullopt, ints1({-1})});
  CHECK(c.shape() == std::vector<int64_t>{2, 3});
  CHECK(floats_of(c) == std::vector<float>{0, 0, 1, 0, 2, 3});
}

TEST_CASE("Gather, GatherElements and ScatterElements with negative indices and axes", "[tensor_ops]") {
  std::mt19937 rng(4);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int64_t> shape = random_shape(rng, 1 + trial % 3, 5);
    const auto rank = static_cast<int64_t>(shape.size());
    const int64_t axis = std::uniform_int_distribution<int64_t>(-rank, rank - 1)(rng);
    const auto a = static_cast<size_t>(axis < 0 ? axis + rank : axis);
    const int64_t dim = shape[a];
    Tensor x = iota(shape);
    std::uniform_int_distribution<int64_t> any_index(-dim, dim - 1);
    // Gather with 2-D indices.
    std::vector<int64_t> idx(6);
    for (int64_t& i : idx) i = any_index(rng);
    Tensor g = run1("Gather", 13, {x, ints({2, 3}, idx)}, {GraphBuilder::attr("axis", axis)});
    for (int64_t i = 0; i < g.numel(); ++i) {
      std::vector<int64_t> oc = unravel(i, g.shape()), ic;
      ic.insert(ic.end(), oc.begin(), oc.begin() + static_cast<int64_t>(a));
      int64_t k = idx[static_cast<size_t>(oc[a] * 3 + oc[a + 1])];
      ic.push_back(k < 0 ? k + dim : k);
      ic.insert(ic.end(), oc.begin() + static_cast<int64_t>(a) + 2, oc.end());
      REQUIRE(g.values<float>()[static_cast<size_t>(i)] == static_cast<float>(ravel(ic, shape)));
    }
    // GatherElements, then ScatterElements of its result back (add onto zeros counts each hit).
    std::vector<int64_t> eidx(static_cast<size_t>(x.numel()));
    for (int64_t& i : eidx) i = any_index(rng);
    Tensor ge = run1("GatherElements", 13, {x, ints(shape, eidx)}, {GraphBuilder::attr("axis", axis)});
    Tensor zeros(DType::kFloat, shape);
    Tensor ones = run1("ConstantOfShape", 20, {ints1(shape)}, {GraphBuilder::attr("value", Tensor::from_floats({1}, std::vector<float>{1}))});
    Tensor se = run1("ScatterElements", 18, {zeros, ints(shape, eidx), ones},
                     {GraphBuilder::attr("axis", axis), GraphBuilder::attr("reduction", std::string("add"))});
    std::vector<float> counts(static_cast<size_t>(x.numel()), 0.0f);
    for (int64_t i = 0; i < x.numel(); ++i) {
      std::vector<int64_t> c = unravel(i, shape);
      int64_t k = eidx[static_cast<size_t>(i)];
      c[a] = k < 0 ? k + dim : k;
      REQUIRE(ge.values<float>()[static_cast<size_t>(i)] == static_cast<float>(ravel(c, shape)));
      counts[static_cast<size_t>(ravel(c, shape))] += 1.0f;
    }
    CHECK(floats_of(se) == counts);
  }
}

TEST_CASE("GatherND with batch_dims and ScatterND with reductions", "[tensor_ops]") {
  Tensor x = iota({2, 3, 4});
  Tensor g = run1("GatherND", 13, {x, ints({2, 2, 1}, {2, -3, 0, 1})}, {GraphBuilder::attr("batch_dims", int64_t{1})});
  CHECK(g.shape() == std::vector<int64_t>{2, 2, 4});
  CHECK(floats_of(g) == std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3, 12, 13, 14, 15, 16, 17, 18, 19});
  Tensor upd = Tensor::from_floats({2, 4}, std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2});
  Tensor s = run1("ScatterND", 18, {iota({2, 3, 4}), ints({2, 2}, {1, -1, 1, 2}), upd}, {GraphBuilder::attr("reduction", std::string("mul"))});
  std::vector<float> want = floats_of(iota({2, 3, 4}));
  for (int k = 20; k < 24; ++k) want[static_cast<size_t>(k)] *= 2.0f;  // [1, -1] and [1, 2] are the same row
  CHECK(floats_of(s) == want);
  Tensor mx = run1("ScatterND", 18, {iota({4}), ints({2, 1}, {0, 3}), Tensor::from_floats({2}, std::vector<float>{9, -1})},
                   {GraphBuilder::attr("reduction", std::string("max"))});
  CHECK(floats_of(mx) == std::vector<float>{9, 1, 2, 3});
}

TEST_CASE("Concat, Split, Tile, Expand and Gather move strings", "[tensor_ops]") {
  Tensor a = Tensor::from_strings({2, 1}, {"a", "b"});
  Tensor b = Tensor::from_strings({2, 2}, {"c", "d", "e", "f"});
  Tensor c = run1("Concat", 13, {a, b}, {GraphBuilder::attr("axis", int64_t{-1})});
  CHECK(c.strings() == std::vector<std::string>{"a", "c", "d", "b", "e", "f"});
  auto parts = run_op("Split", 18, {c}, {GraphBuilder::attr("axis", int64_t{1}), GraphBuilder::attr("num_outputs", int64_t{2})}, 2);
  CHECK(parts[0].strings() == std::vector<std::string>{"a", "c", "b", "e"});
  CHECK(parts[1].strings() == std::vector<std::string>{"d", "f"});
  CHECK(run1("Tile", 13, {a, ints1({1, 2})}).strings() == std::vector<std::string>{"a", "a", "b", "b"});
  CHECK(run1("Expand", 13, {a, ints1({2, 2})}).strings() == std::vector<std::string>{"a", "a", "b", "b"});
  CHECK(run1("Gather", 13, {b, ints({}, {-1})}).strings() == std::vector<std::string>{"e", "f"});
  CHECK(run1("Reshape", 13, {b, ints1({4})}).strings() == b.strings());
}

TEST_CASE("Split signatures: attribute (2-12), input (13+), uneven num_outputs (18)", "[tensor_ops]") {
  Tensor x = iota({7});
  auto v11 = run_op("Split", 11, {x}, {GraphBuilder::attr("split", std::vector<int64_t>{3, 4})}, 2);
  CHECK(floats_of(v11[1]) == std::vector<float>{3, 4, 5, 6});
  auto v13 = run_op("Split", 13, {x, ints1({5, 2})}, {}, 2);
  CHECK(floats_of(v13[1]) == std::vector<float>{5, 6});
  auto v18 = run_op("Split", 18, {x}, {GraphBuilder::attr("num_outputs", int64_t{3})}, 3);
  CHECK(v18[0].shape() == std::vector<int64_t>{3});
  CHECK(floats_of(v18[2]) == std::vector<float>{6});
}

TEST_CASE("Tile and Expand match naive modulo and broadcast reads", "[tensor_ops]") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 15; ++trial) {
    std::vector<int64_t> shape = random_shape(rng, 1 + trial % 4, 3), reps = random_shape(rng, 1 + trial % 4, 3);
    Tensor x = iota(shape);
    Tensor t = run1("Tile", 13, {x, ints1(reps)});
    for (int64_t i = 0; i < t.numel(); ++i) {
      std::vector<int64_t> c = unravel(i, t.shape());
      for (size_t d = 0; d < c.size(); ++d) c[d] %= shape[d];
      REQUIRE(t.values<float>()[static_cast<size_t>(i)] == static_cast<float>(ravel(c, shape)));
    }
    // Expand to a higher rank, with shape dims of 1 broadcasting the other way.
    std::vector<int64_t> target = {2};
    for (int64_t d : shape) target.push_back(d == 1 ? 3 : (trial % 2 ? 1 : d));
    Tensor e = run1("Expand", 13, {x, ints1(target)});
    for (int64_t i = 0; i < e.numel(); ++i) {
      std::vector<int64_t> c = unravel(i, e.shape());
      c.erase(c.begin());
      for (size_t d = 0; d < c.size(); ++d) c[d] = shape[d] == 1 ? 0 : c[d];
      REQUIRE(e.values<float>()[static_cast<size_t>(i)] == static_cast<float>(ravel(c, shape)));
    }
  }
  CHECK(run1("Tile", 1, {iota({2}), ints({}, {3}), ints({}, {0})}).shape() == std::vector<int64_t>{6});
}

TEST_CASE("DepthToSpace inverts SpaceToDepth (DCR); CRD follows its channel order", "[tensor_ops]") {
  Tensor x = iota({2, 3, 4, 6});
  Tensor s = run1("SpaceToDepth", 13, {x}, {GraphBuilder::attr("blocksize", int64_t{2})});
  CHECK(s.shape() == std::vector<int64_t>{2, 12, 2, 3});
  Tensor back = run1("DepthToSpace", 13, {s}, {GraphBuilder::attr("blocksize", int64_t{2})});
  CHECK(floats_of(back) == floats_of(x));
  Tensor crd = run1("DepthToSpace", 13, {s}, {GraphBuilder::attr("blocksize", int64_t{2}), GraphBuilder::attr("mode", std::string("CRD"))});
  for (int64_t i = 0; i < crd.numel(); ++i) {
    std::vector<int64_t> c = unravel(i, crd.shape());  // [n, c', h*2+b1, w*2+b2] reads channel c'*4 + b1*2 + b2
    std::vector<int64_t> src = {c[0], c[1] * 4 + (c[2] % 2) * 2 + c[3] % 2, c[2] / 2, c[3] / 2};
    REQUIRE(crd.values<float>()[static_cast<size_t>(i)] == s.values<float>()[static_cast<size_t>(ravel(src, s.shape()))]);
  }
}

TEST_CASE("Reshape, Flatten, Squeeze and Unsqueeze across opsets", "[tensor_ops]") {
  Tensor x = iota({2, 3, 1, 4});
  CHECK(run1("Reshape", 13, {x, ints1({0, -1})}).shape() == std::vector<int64_t>{2, 12});
  CHECK(run1("Reshape", 4, {x}, {GraphBuilder::attr("shape", std::vector<int64_t>{-1, 4})}).shape() == std::vector<int64_t>{6, 4});
  Tensor empty(DType::kFloat, {0, 3});
  CHECK(run1("Reshape", 14, {empty, ints1({3, 0})}, {GraphBuilder::attr("allowzero", int64_t{1})}).shape() == std::vector<int64_t>{3, 0});
  CHECK(run1("Flatten", 13, {x}, {GraphBuilder::attr("axis", int64_t{-1})}).shape() == std::vector<int64_t>{6, 4});
  CHECK(run1("Flatten", 9, {x}, {GraphBuilder::attr("axis", int64_t{0})}).shape() == std::vector<int64_t>{1, 24});
  CHECK(run1("Squeeze", 11, {x}, {GraphBuilder::attr("axes", std::vector<int64_t>{-2})}).shape() == std::vector<int64_t>{2, 3, 4});
  CHECK(run1("Squeeze", 13, {x}).shape() == std::vector<int64_t>{2, 3, 4});
  CHECK(run1("Unsqueeze", 11, {x}, {GraphBuilder::attr("axes", std::vector<int64_t>{0, -1})}).shape() ==
        std::vector<int64_t>{1, 2, 3, 1, 4, 1});
  CHECK(run1("Unsqueeze", 13, {x, ints1({5, 1})}).shape() == std::vector<int64_t>{2, 1, 3, 1, 4, 1});
  Tensor shp = run1("Shape", 15, {x}, {GraphBuilder::attr("start", int64_t{-3}), GraphBuilder::attr("end", int64_t{-1})});
  CHECK(int64s_of(shp) == std::vector<int64_t>{3, 1});
  CHECK(int64s_of(run1("Size", 13, {x})) == std::vector<int64_t>{24});
  CHECK(run1("Shape", 13, {Tensor(DType::kFloat, {})}).shape() == std::vector<int64_t>{0});
}

TEST_CASE("Trilu, EyeLike, OneHot, NonZero, Compress and Range against naive loops", "[tensor_ops]") {
  std::mt19937 rng(6);
  for (int trial = 0; trial < 12; ++trial) {
    std::vector<int64_t> shape = random_shape(rng, 2 + trial % 2, 5);
    const int64_t k = std::uniform_int_distribution<int64_t>(-4, 4)(rng);
    const bool upper = trial % 2 == 0;
    Tensor x = iota(shape);
    Tensor y = run1("Trilu", 14, {x, ints({}, {k})}, {GraphBuilder::attr("upper", int64_t{upper})});
    for (int64_t i = 0; i < y.numel(); ++i) {
      std::vector<int64_t> c = unravel(i, shape);
      const int64_t r = c[c.size() - 2], col = c.back();
      const bool keep = upper ? col - r >= k : col - r <= k;
      REQUIRE(y.values<float>()[static_cast<size_t>(i)] == (keep ? static_cast<float>(i) : 0.0f));
    }
  }
  Tensor eye = run1("EyeLike", 9, {iota({3, 4})}, {GraphBuilder::attr("k", int64_t{-1}), GraphBuilder::attr("dtype", int64_t{7})});
  CHECK(int64s_of(eye) == std::vector<int64_t>{0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0});
  Tensor oh = run1("OneHot", 11, {ints1({1, -1, 7}), ints({}, {3}), Tensor::from_floats({2}, std::vector<float>{-1, 5})},
                   {GraphBuilder::attr("axis", int64_t{0})});
  CHECK(oh.shape() == std::vector<int64_t>{3, 3});
  CHECK(floats_of(oh) == std::vector<float>{-1, -1, -1, 5, -1, -1, -1, 5, -1});  // 7 is out of range: all off
  Tensor nz = run1("NonZero", 13, {Tensor::from_floats({2, 2}, std::vector<float>{0, 3, -0.0f, 4})});
  CHECK(int64s_of(nz) == std::vector<int64_t>{0, 1, 1, 1});
  Tensor cond(DType::kBool, {3});
  cond.mutable_values<bool>()[2] = true;
  CHECK(floats_of(run1("Compress", 11, {iota({2, 2}), cond})) == std::vector<float>{2});
  CHECK(int64s_of(run1("Range", 11, {ints({}, {10}), ints({}, {-3}), ints({}, {-4})})) == std::vector<int64_t>{10, 6, 2, -2});
  CHECK(run1("Range", 11, {ints({}, {0}), ints({}, {5}), ints({}, {-1})}).numel() == 0);
}

TEST_CASE("Constant value forms and ConstantOfShape types", "[tensor_ops]") {
  ir::Attribute strs;
  strs.name = "value_strings";
  strs.kind = ir::Attribute::Kind::kStrings;
  strs.strings = {"x", "yz"};
  CHECK(run1("Constant", 13, {}, {strs}).strings() == std::vector<std::string>{"x", "yz"});
  ir::Attribute is;
  is.name = "value_ints";
  is.kind = ir::Attribute::Kind::kInts;
  is.ints = {4, 5};
  CHECK(int64s_of(run1("Constant", 13, {}, {is})) == std::vector<int64_t>{4, 5});
  CHECK(floats_of(run1("Constant", 13, {}, {GraphBuilder::attr("value_float", 2.5f)})) == std::vector<float>{2.5f});
  Tensor v(DType::kInt32, {1});
  v.mutable_values<int32_t>()[0] = -7;
  Tensor c = run1("ConstantOfShape", 9, {ints1({2, 2})}, {GraphBuilder::attr("value", v)});
  CHECK(c.dtype() == DType::kInt32);
  CHECK(std::vector<int32_t>(c.values<int32_t>().begin(), c.values<int32_t>().end()) == std::vector<int32_t>{-7, -7, -7, -7});
  CHECK(run1("ConstantOfShape", 9, {ints1({})}).shape().empty());
}

TEST_CASE("Dropout: inference copies; training draws numpy's RandomState(seed) mask", "[tensor_ops]") {
  Tensor x = Tensor::from_floats({5}, std::vector<float>{1, 2, 3, 4, 5});
  auto inf = run_op("Dropout", 7, {x}, {GraphBuilder::attr("ratio", 0.9f)}, 2);
  CHECK(floats_of(inf[0]) == floats_of(x));
  CHECK(inf[1].dtype() == DType::kFloat);  // before opset 10 the mask has the data's type
  CHECK(floats_of(inf[1]) == std::vector<float>{1, 1, 1, 1, 1});
  // RandomState(0).uniform(size=5) = 0.5488, 0.7152, 0.6028, 0.5449, 0.4237.
  Tensor ratio = Tensor::from_floats({}, std::vector<float>{0.55f});
  Tensor train(DType::kBool, {});
  train.mutable_values<bool>()[0] = true;
  auto tr = run_op("Dropout", 13, {x, ratio, train}, {GraphBuilder::attr("seed", int64_t{0})}, 2);
  const std::vector<bool> keep = {false, true, true, false, false};
  for (size_t i = 0; i < 5; ++i) {
    CHECK(tr[1].values<bool>()[i] == keep[i]);
    CHECK(test::near(tr[0].values<float>()[i], keep[i] ? (static_cast<double>(i) + 1) / 0.45 : 0.0, 1e-6, 1e-6));
  }
  auto again = run_op("Dropout", 13, {x, ratio, train}, {GraphBuilder::attr("seed", int64_t{0})}, 2);
  CHECK(again[0].equals(tr[0]));
}

TEST_CASE("copies split across threads equal the single-threaded result", "[tensor_ops]") {
  Tensor x = iota({64, 33, 17});
  auto attrs = [] { return std::vector<ir::Attribute>{GraphBuilder::attr("perm", std::vector<int64_t>{2, 0, 1})}; };
  Tensor one = run_op("Transpose", 13, {x}, attrs(), 1, 1).at(0);
  Tensor four = run_op("Transpose", 13, {x}, attrs(), 1, 4).at(0);
  CHECK(one.equals(four));
  Tensor pad1 = run_op("Pad", 13, {x, ints1({1, 2, 3, 3, 2, 1})}, {GraphBuilder::attr("mode", std::string("reflect"))}, 1, 1).at(0);
  Tensor pad4 = run_op("Pad", 13, {x, ints1({1, 2, 3, 3, 2, 1})}, {GraphBuilder::attr("mode", std::string("reflect"))}, 1, 4).at(0);
  CHECK(pad1.equals(pad4));
}

TEST_CASE("tensor ops refuse bad input with the op's prefix", "[tensor_ops]") {
  Tensor x = iota({2, 3});
  CHECK_THAT(bad_input_message([&] { run1("Gather", 13, {x, ints1({2})}); }), StartsWith("[Gather node"));
  CHECK_THAT(bad_input_message([&] { run1("Reshape", 13, {x, ints1({4, -1})}); }), StartsWith("[Reshape node"));
  CHECK_THAT(bad_input_message([&] { run1("Transpose", 13, {x}, {GraphBuilder::attr("perm", std::vector<int64_t>{0, 0})}); }),
             StartsWith("[Transpose node"));
  CHECK_THAT(bad_input_message([&] { run_op("Split", 13, {x, ints1({1, 1})}, {GraphBuilder::attr("axis", int64_t{1})}, 2); }),
             StartsWith("[Split node"));
  CHECK_THAT(bad_input_message([&] { run1("Pad", 13, {x, ints1({0, 0, 0, 0})}, {GraphBuilder::attr("mode", std::string("mirror"))}); }),
             StartsWith("[Pad node"));
  CHECK_THAT(bad_input_message([&] { run1("Squeeze", 13, {x, ints1({0})}); }), StartsWith("[Squeeze node"));
  CHECK_THAT(bad_input_message([&] { run1("Concat", 13, {x, iota({3, 3})}, {GraphBuilder::attr("axis", int64_t{1})}); }),
             StartsWith("[Concat node"));
  CHECK_THAT(bad_input_message([&] { run1("Slice", 13, {x, ints1({0}), ints1({1}), ints1({0}), ints1({0})}); }),
             StartsWith("[Slice node"));
  CHECK_THAT(bad_input_message([&] { run1("ScatterND", 13, {x, ints({1, 1}, {5}), iota({1, 3})}); }), StartsWith("[ScatterND node"));
  CHECK_THAT(bad_input_message([&] { run1("Transpose", 13, {Tensor(DType::kInt4, {4})}); }), StartsWith("[Transpose node"));
  CHECK_THAT(bad_input_message([&] { run1("Range", 11, {ints({}, {0}), ints({}, {5}), ints({}, {0})}); }), StartsWith("[Range node"));
  CHECK_THAT(bad_input_message([&] { run1("Expand", 13, {x, ints1({4, 3})}); }), StartsWith("[Expand node"));
}

TEST_CASE("Pow of integers saturates at the type's range instead of an undefined cast", "[tensor_ops]") {
  // Found by scalec_fuzz_executor: 10^30 as int64 was a cast of 1e30 (undefined behaviour).
  const Tensor y = run1("Pow", 15, {ints({4}, {10, -10, 2, 0}), ints({4}, {30, 31, 10, -1})});
  const auto v = y.values<int64_t>();
  CHECK(v[0] == std::numeric_limits<int64_t>::max());
  CHECK(v[1] == std::numeric_limits<int64_t>::lowest());
  CHECK(v[2] == 1024);
  CHECK(v[3] == std::numeric_limits<int64_t>::max());  // 0^-1 = inf
}
