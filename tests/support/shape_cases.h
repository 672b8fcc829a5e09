#pragma once
// Shape-rule test cases: one node in a fresh model, its inputs typed (possibly symbolic), known
// (initializers) or omitted, run through infer_shapes without folding so the op's rule alone
// decides; results as strings like "float[N, 3]" ("?" an unknown dim, "float[...]" an unknown rank).
// Also the checks every op family's shape tests share: a rule for every op version, and random
// 1-D window sweeps that compare a rule with its kernel.
#include <catch2/catch.hpp>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "ir/type_info.h"
#include "kernels/exec/executor.h"
#include "kernels/exec/shape_inference.h"
#include "kernels/ops/op_registry.h"
#include "support/attrs.h"

namespace scalec::test {

/// Element types, terse for case tables.
inline constexpr ir::DType F = ir::DType::kFloat;
inline constexpr ir::DType I64 = ir::DType::kInt64;
inline constexpr ir::DType B = ir::DType::kBool;

/// The types of several outputs, as infer_node returns them.
using Strings = std::vector<std::string>;

/// One input of a shape case.
struct ShapeInput {
  std::optional<ir::TypeInfo> type;  ///< a graph input of this type
  std::optional<ir::Tensor> value;   ///< or an initializer with this data
};

/// A dim: a number, or a symbolic name such as "N".
struct D {
  ir::Dim dim;
  D(int64_t v) : dim(ir::Dim::of(v)) {}  // NOLINT: terse case tables
  D(int v) : dim(ir::Dim::of(v)) {}      // NOLINT
  D(const char* name) : dim(name[0] == '?' ? ir::Dim{} : ir::Dim::named(name)) {}  // NOLINT
};

/// A graph input of element type `t` and the given dims ("?" unknown, "N" symbolic).
inline ShapeInput typed(ir::DType t, std::vector<D> dims) {
  std::vector<ir::Dim> ds;
  for (const D& d : dims) ds.push_back(d.dim);
  return {ir::TypeInfo::tensor(t, std::move(ds)), std::nullopt};
}
/// A graph input of element type `t` and unknown rank.
inline ShapeInput any_rank(ir::DType t) {
  ir::TypeInfo ti;
  ti.elem_type = static_cast<int32_t>(t);
  return {ti, std::nullopt};
}
/// An input whose data is known.
inline ShapeInput known(ir::Tensor v) { return {std::nullopt, std::move(v)}; }
/// An omitted optional input ("").
inline ShapeInput omitted() { return {}; }
/// A known int64 vector.
inline ShapeInput known_ints(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return known(ir::Tensor::from_int64s({n}, v));
}
/// A known float vector.
inline ShapeInput known_floats(std::vector<float> v) {
  const auto n = static_cast<int64_t>(v.size());
  return known(ir::Tensor::from_floats({n}, v));
}
/// A known int64 scalar.
inline ShapeInput known_scalar(int64_t v) {
  const std::vector<int64_t> one{v};
  return known(ir::Tensor::from_int64s({}, one));
}

/// The inferred output types of one `op` node at `opset`, as strings.
inline std::vector<std::string> infer_node(const std::string& op, const std::vector<ShapeInput>& inputs,
                                           std::vector<ir::Attribute> attrs = {}, int64_t opset = 17,
                                           size_t n_outputs = 1) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", opset}};
  m.graph = std::make_unique<ir::Graph>("main");
  ir::GraphBuilder b(*m.graph);
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ShapeInput& in = inputs[i];
    const std::string name = "in" + std::to_string(i);
    if (in.value) {
      ins.push_back(b.initializer(name, *in.value));
    } else if (in.type) {
      ir::Value* v = b.input(name, ir::DType::kFloat, std::vector<ir::Dim>{});
      v->type = in.type;
      ins.push_back(v);
    } else {
      ins.push_back(nullptr);
    }
  }
  std::vector<ir::Value*> outs = b.op_n(op, ins, n_outputs, std::move(attrs));
  for (ir::Value* v : outs) b.output(v);
  kernels::ShapeInferenceOptions opts;
  opts.fold_constants = false;
  kernels::infer_shapes(m, opts);
  std::vector<std::string> result;
  for (ir::Value* v : outs) {
    if (!v->type) result.push_back("none");
    else if (!v->type->shape) result.push_back(std::string(ir::dtype_name(v->type->dtype())) + "[...]");
    else result.push_back(ir::type_to_string(*v->type));
  }
  return result;
}

/// The type of the single output.
inline std::string infer1(const std::string& op, const std::vector<ShapeInput>& inputs,
                          std::vector<ir::Attribute> attrs = {}, int64_t opset = 17) {
  return infer_node(op, inputs, std::move(attrs), opset, 1).front();
}

/// Checks that every op in `ops` is registered and that each of its registered versions up to
/// kLatestOpset has a shape rule.
inline void check_every_version_has_rule(std::initializer_list<const char*> ops) {
  const auto& reg = kernels::OpRegistry::instance();
  for (const char* op : ops) {
    REQUIRE(reg.knows("", op));
    for (int64_t opset = 1; opset <= kernels::kLatestOpset; ++opset) {
      const kernels::OpDef* def = reg.find("", op, opset);
      INFO(op << " opset " << opset);
      if (def) CHECK(def->infer);
    }
  }
}

/// A random 1-D sliding window: input length, kernel, stride, dilation, begin/end pads, auto_pad.
struct Window1d {
  int64_t in, k, s, d, pb, pe;
  std::string mode;
  /// "in 7 k 3 s 2 d 1 pads 0,1 NOTSET".
  std::string describe() const {
    return "in " + std::to_string(in) + " k " + std::to_string(k) + " s " + std::to_string(s) + " d " +
           std::to_string(d) + " pads " + std::to_string(pb) + "," + std::to_string(pe) + " " + mode;
  }
};

/// Seeded draws for sweeps over 1-D windows.
class WindowSweep {
 public:
  explicit WindowSweep(uint32_t seed) : rng_(seed) {}
  /// A number in [lo, hi].
  int64_t pick(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  /// The next window: length 1-9, kernel 1-4, stride 1-3, dilation 1-2, pads 0-2, any auto_pad.
  Window1d next() {
    static const char* const modes[] = {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"};
    Window1d w{};
    w.in = pick(1, 9);
    w.k = pick(1, 4);
    w.s = pick(1, 3);
    w.d = pick(1, 2);
    w.pb = pick(0, 2);
    w.pe = pick(0, 2);
    w.mode = modes[pick(0, 3)];
    return w;
  }

 private:
  std::mt19937 rng_;
};

/// One node of a rule-vs-kernel sweep: float inputs of `shapes`, the first a graph input, the
/// others initializers (as weights are).
struct SweepCase {
  std::string op;
  int64_t opset;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<ir::Attribute> attrs;
};

/// The first output's type of `c` as the shape rule infers it and as the Executor computes it (on
/// zeros), each "error" where it throws: a rule and its kernel agree when both strings are equal.
inline std::pair<std::string, std::string> inferred_and_computed(const SweepCase& c) {
  std::string inferred;
  try {
    std::vector<ShapeInput> ins;
    for (const std::vector<int64_t>& s : c.shapes) {
      ins.push_back(typed(ir::DType::kFloat, std::vector<D>(s.begin(), s.end())));
    }
    inferred = infer1(c.op, ins, c.attrs, c.opset);
  } catch (const Error&) {
    inferred = "error";
  }
  ir::Model m;
  m.ir_version = 8;
  m.opset_imports.push_back({"", c.opset});
  m.graph = std::make_unique<ir::Graph>("g");
  ir::GraphBuilder b(*m.graph);
  std::vector<ir::Value*> ins = {b.input("x", ir::DType::kFloat, c.shapes.front())};
  for (size_t i = 1; i < c.shapes.size(); ++i) {
    std::string name = "w";  // (not "w" + ...: GCC 12 warns a false -Wrestrict on it)
    name += std::to_string(i);
    ins.push_back(b.initializer(name, ir::Tensor(ir::DType::kFloat, c.shapes[i])));
  }
  m.graph->outputs.push_back(b.op(c.op, ins, c.attrs));
  std::string computed;
  try {
    kernels::Executor exec(m);
    ir::Tensor y = exec.run({{"x", ir::Tensor(ir::DType::kFloat, c.shapes.front())}}).front().second;
    computed = ir::type_to_string(ir::TypeInfo::tensor(y.dtype(), y.shape()));
  } catch (const Error&) {
    computed = "error";
  }
  return {inferred, computed};
}

/// Runs `trials` random cases, make(trial, sweep, window) building each from a fresh window (and
/// further draws of its own): the rule must agree with the kernel every time, and more than
/// `min_computed` cases must be valid (the kernel ran).
inline void check_rule_matches_kernel(uint32_t seed, int trials, int min_computed,
                                      const std::function<SweepCase(int, WindowSweep&, const Window1d&)>& make) {
  WindowSweep sweep(seed);
  int computed_count = 0;
  for (int trial = 0; trial < trials; ++trial) {
    const Window1d w = sweep.next();
    const SweepCase c = make(trial, sweep, w);
    const auto [inferred, computed] = inferred_and_computed(c);
    INFO(c.op << " " << w.describe());
    CHECK(inferred == computed);
    computed_count += computed != "error";
  }
  CHECK(computed_count > min_computed);
}

}  // namespace scalec::test
