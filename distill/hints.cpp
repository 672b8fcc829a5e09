#include "distill/hints.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "ir/error.h"
#include "ir/graph_builder.h"

namespace scalec::distill {

namespace {

// The value's tensor on one batch, observed with a tap (the value need not be a graph output).
ir::Tensor observe(const ir::Model& m, const std::string& name, const kernels::NamedTensors& feeds, const char* who,
                   const HintSpec& h) {
  const ir::Value* v = m.graph->find_value(name);
  if (!v) throw_bad_input("--hint {}={}: the {} has no value named '{}'", h.teacher, h.student, who, name);
  if (!v->producer()) {
    throw_bad_input("--hint {}={}: the {}'s '{}' is a graph input or weight, not a value a node computes", h.teacher,
                    h.student, who, name);
  }
  kernels::Executor exec(m);
  ir::Tensor seen;
  exec.add_tap(v, [&seen](const ir::Value&, const ir::Tensor& t) { seen = t; });
  exec.run(feeds);
  if (seen.dtype() != ir::DType::kFloat && seen.dtype() != ir::DType::kDouble) {
    throw_bad_input("--hint {}={}: the {}'s '{}' is {}, not a float value", h.teacher, h.student, who, name,
                    ir::dtype_name(seen.dtype()));
  }
  return seen;
}

// The axis a projection maps: channels of [N, C, H, W] and [N, D], features of [N, L, D].
int64_t channel_axis(size_t rank) { return rank == 3 ? 2 : 1; }

// Uniform(-bound, bound) values in `dtype`, as PyTorch initializes Conv2d and Linear (bound 1/sqrt(fan_in)).
ir::Tensor uniform(ir::DType dtype, std::vector<int64_t> shape, double bound, std::mt19937_64& gen) {
  ir::Tensor t(dtype, std::move(shape));
  std::uniform_real_distribution<double> u(-bound, bound);
  if (dtype == ir::DType::kFloat) {
    for (float& x : t.mutable_values<float>()) x = static_cast<float>(u(gen));
  } else {
    for (double& x : t.mutable_values<double>()) x = u(gen);
  }
  return t;
}

}  // namespace

HintSpec parse_hint(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw Error(ExitCode::kUsage, fmt::format("--hint '{}': expected TEACHER_VALUE=STUDENT_VALUE", text));
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::vector<HintHead> attach_hint_heads(ir::Model& student, const ir::Model& teacher, const std::vector<HintSpec>& hints,
                                        const kernels::NamedTensors& one_sample, uint64_t seed) {
  std::vector<HintHead> heads;
  std::mt19937_64 gen(seed ^ 0x68696E7473ull);  // "hints": projections do not share the shuffling's stream
  ir::Graph& g = *student.graph;
  for (const HintSpec& h : hints) {
    const ir::Tensor t = observe(teacher, h.teacher, one_sample, "teacher", h);
    const ir::Tensor s = observe(student, h.student, one_sample, "student", h);
    HintHead head;
    head.spec = h;
    head.teacher_shape = t.shape();
    head.student_shape = s.shape();
    const size_t rank = s.shape().size();
    const bool widths_may_differ = rank >= 2 && rank <= 4 && t.shape().size() == rank;
    std::vector<int64_t> ts = t.shape(), ss = s.shape();
    if (widths_may_differ) ts[channel_axis(rank)] = ss[channel_axis(rank)] = 0;
    if (ts != ss || (!widths_may_differ && t.shape() != s.shape())) {
      throw_bad_input("--hint {}={}: the teacher's value has shape {} and the student's {}; they may differ only in the "
                      "channel axis (axis 1 of [N, C, H, W] and [N, D], the last of [N, L, D])",
                      h.teacher, h.student, ir::shape_to_string(t.shape()), ir::shape_to_string(s.shape()));
    }
    ir::Value* sv = g.find_value(h.student);
    if (t.shape() == s.shape()) {
      head.student_output = h.student;
      if (std::find(g.outputs.begin(), g.outputs.end(), sv) == g.outputs.end()) {
        g.outputs.push_back(sv);
        head.added_output = true;
      }
      heads.push_back(std::move(head));
      continue;
    }
    // A learned projection from the student's width to the teacher's.
    const int64_t cs = s.shape()[channel_axis(rank)], ct = t.shape()[channel_axis(rank)];
    const double bound = 1.0 / std::sqrt(static_cast<double>(cs));
    const std::string base = g.unique_name("scalec_hint_proj");
    auto add_weight = [&](const std::string& suffix, std::vector<int64_t> shape) {
      const std::string name = g.unique_name(base + suffix);
      ir::Value* v = g.add_initializer(name, uniform(s.dtype(), std::move(shape), bound, gen));
      head.added_initializers.push_back(name);
      head.projection_parameters += v->initializer->numel();
      return v;
    };
    ir::Value* out = g.create_value(g.unique_name(base + "_out"));
    if (rank == 4) {
      ir::Value* w = add_weight("_weight", {ct, cs, 1, 1});
      ir::Value* b = add_weight("_bias", {ct});
      ir::Node* n = g.add_node("Conv", {sv, w, b}, {out});
      n->name = g.unique_name(base + "_conv");
      head.added_nodes.push_back(n->name);
    } else {
      ir::Value* w = add_weight("_weight", {cs, ct});
      ir::Value* b = add_weight("_bias", {ct});
      ir::Value* mm = g.create_value(g.unique_name(base + "_matmul_out"));
      ir::Node* m = g.add_node("MatMul", {sv, w}, {mm});
      m->name = g.unique_name(base + "_matmul");
      ir::Node* a = g.add_node("Add", {mm, b}, {out});
      a->name = g.unique_name(base + "_add");
      head.added_nodes.push_back(m->name);
      head.added_nodes.push_back(a->name);
    }
    g.outputs.push_back(out);
    head.added_output = true;
    head.projected = true;
    head.student_output = out->name();
    heads.push_back(std::move(head));
  }
  return heads;
}

void detach_hint_heads(ir::Model& student, const std::vector<HintHead>& heads) {
  ir::Graph& g = *student.graph;
  for (const HintHead& h : heads) {
    if (h.added_output) {
      auto it = std::find_if(g.outputs.begin(), g.outputs.end(), [&](const ir::Value* v) { return v->name() == h.student_output; });
      if (it != g.outputs.end()) g.outputs.erase(it);
    }
    for (auto name = h.added_nodes.rbegin(); name != h.added_nodes.rend(); ++name) {
      const auto& nodes = g.nodes();
      auto it = std::find_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n->name == *name; });
      if (it != nodes.end()) g.remove_node(it->get());
    }
    for (const std::string& name : h.added_initializers) {
      ir::Value* v = g.find_value(name);
      g.initializers.erase(std::remove(g.initializers.begin(), g.initializers.end(), v), g.initializers.end());
      g.inputs.erase(std::remove(g.inputs.begin(), g.inputs.end(), v), g.inputs.end());
      if (v) v->initializer.reset();
    }
  }
  g.remove_unused_values();
}

}  // namespace scalec::distill
