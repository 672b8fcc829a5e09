#include "kernels/exec/control_flow.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "ir/error.h"
#include "ir/printable.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/exec/run_limits.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/op_schema.h"

namespace scalec::kernels {

namespace {

// A subgraph resolved once per node run: its nodes in order, with their kernels (null: control flow).
struct Plan {
  const ir::Graph* graph = nullptr;
  struct Step {
    const ir::Node* node;
    const OpDef* op;
    int64_t opset;
  };
  std::vector<Step> steps;
};

Plan plan_of(const ir::Model& model, const ir::Graph& g) {
  Plan p;
  p.graph = &g;
  for (ir::Node* n : g.topological_order()) {
    const int64_t opset = model.opset_version(n->domain());
    if (is_control_flow(*n, opset)) {
      p.steps.push_back({n, nullptr, opset});
      continue;
    }
    const OpDef* op = OpRegistry::instance().find(n->domain(), n->op_type(), opset);
    if (!op) {
      throw_bad_input("[{}] node '{}' inside graph '{}': unsupported op {}::{} (opset {})", ir::printable(n->op_type()),
                      ir::printable(n->name), ir::printable(g.name), n->domain().empty() ? "ai.onnx" : n->domain(),
                      ir::printable(n->op_type()), opset);
    }
    check_node_schema(NodeAttrs(*n, opset));
    p.steps.push_back({n, op, opset});
  }
  return p;
}

const ir::Graph& subgraph(const ir::Node& n, const char* name) {
  const ir::Attribute* a = n.attribute(name);
  if (!a || a->kind != ir::Attribute::Kind::kGraph || !a->g) {
    throw_bad_input("[{}] node '{}' has no graph attribute '{}'", n.op_type(), ir::printable(n.name), name);
  }
  return *a->g;
}

// Runs `plan`'s graph with `inputs` bound to its inputs; returns its outputs.
std::vector<ir::Tensor> run_graph(const ir::Model& model, const Plan& plan, const std::vector<ir::Tensor>& inputs,
                                  const OuterScope& outer, ThreadPool& pool) {
  const ir::Graph& g = *plan.graph;
  if (inputs.size() != g.inputs.size()) {
    throw_bad_input("subgraph '{}' takes {} inputs, its node gives {}", ir::printable(g.name), g.inputs.size(), inputs.size());
  }
  std::unordered_map<const ir::Value*, ir::Tensor> live;
  for (const ir::Value* v : g.initializers) live[v] = *v->initializer;
  for (size_t i = 0; i < inputs.size(); ++i) live[g.inputs[i]] = inputs[i];
  const OuterScope scope = [&live, &outer](const ir::Value* v) -> const ir::Tensor* {
    auto it = live.find(v);
    return it != live.end() ? &it->second : outer(v);
  };
  std::vector<const ir::Tensor*> ins;
  for (const Plan::Step& s : plan.steps) {
    ins.clear();
    for (const ir::Value* v : s.node->inputs()) {
      if (!v) {
        ins.push_back(nullptr);
        continue;
      }
      const ir::Tensor* t = scope(v);
      if (!t) throw_internal("subgraph '{}': value '{}' is used before it is computed", g.name, v->name());
      ins.push_back(t);
    }
    std::vector<ir::Tensor> outs;
    if (s.op) {
      OpContext ctx(*s.node, s.opset, ins, pool);
      outs = s.op->forward_cpu(ctx);
    } else {
      outs = run_control_flow(model, *s.node, ins, scope, pool);
    }
    for (size_t i = 0; i < s.node->outputs().size() && i < outs.size(); ++i) {
      if (s.node->output(i)) live[s.node->output(i)] = std::move(outs[i]);
    }
  }
  std::vector<ir::Tensor> result;
  for (const ir::Value* v : g.outputs) {
    const ir::Tensor* t = scope(v);
    if (!t) throw_internal("subgraph '{}': output '{}' was not computed", g.name, v->name());
    result.push_back(*t);
  }
  return result;
}

bool true_scalar(const ir::Tensor& t, const char* what, const ir::Node& n) {
  if (t.numel() != 1) {
    throw_bad_input("[{}] node '{}': {} must hold one value, got shape {}", n.op_type(), ir::printable(n.name), what,
                    ir::shape_to_string(t.shape()));
  }
  return t.element_as_double(0) != 0;
}

size_t element_bytes(const ir::Tensor& t, const ir::Node& n) {
  if (ir::dtype_bits(t.dtype()) % 8 != 0 || t.dtype() == ir::DType::kString) {
    throw_bad_input("[{}] node '{}': scan values of type {} are not supported", n.op_type(), ir::printable(n.name),
                    ir::dtype_name(t.dtype()));
  }
  return static_cast<size_t>(ir::dtype_bits(t.dtype()) / 8);
}

// Slice `index` of `t` along `axis`, the axis removed.
ir::Tensor take(const ir::Tensor& t, int64_t axis, int64_t index, const ir::Node& n) {
  const size_t eb = element_bytes(t, n);
  std::vector<int64_t> shape = t.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t len = shape[static_cast<size_t>(axis)];
  shape.erase(shape.begin() + axis);
  ir::Tensor out(t.dtype(), shape);
  auto src = t.bytes();
  auto dst = out.mutable_bytes();
  const size_t chunk = static_cast<size_t>(inner) * eb;
  for (int64_t o = 0; o < outer; ++o) {
    std::memcpy(dst.data() + static_cast<size_t>(o) * chunk, src.data() + (static_cast<size_t>(o * len + index)) * chunk, chunk);
  }
  return out;
}

// `slices` (equal shapes) stacked along a new axis `axis`, in order.
ir::Tensor stack(const std::vector<ir::Tensor>& slices, int64_t axis, const ir::Node& n) {
  const ir::Tensor& first = slices.front();
  for (const ir::Tensor& s : slices) {
    if (s.shape() != first.shape() || s.dtype() != first.dtype()) {
      throw_bad_input("[{}] node '{}': scan output slices differ ({} {} and {} {})", n.op_type(), ir::printable(n.name),
                      ir::dtype_name(first.dtype()), ir::shape_to_string(first.shape()), ir::dtype_name(s.dtype()),
                      ir::shape_to_string(s.shape()));
    }
  }
  const size_t eb = element_bytes(first, n);
  if (first.bytes().size() * slices.size() > max_tensor_bytes()) {
    throw_bad_input("[{}] node '{}': its scan output of {} slices of {} bytes passes --max-tensor-bytes", n.op_type(),
                    ir::printable(n.name), slices.size(), first.bytes().size());
  }
  std::vector<int64_t> shape = first.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis); d < shape.size(); ++d) inner *= shape[d];
  shape.insert(shape.begin() + axis, static_cast<int64_t>(slices.size()));
  ir::Tensor out(first.dtype(), shape);
  auto dst = out.mutable_bytes();
  const size_t chunk = static_cast<size_t>(inner) * eb;
  for (size_t k = 0; k < slices.size(); ++k) {
    auto src = slices[k].bytes();
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(dst.data() + (static_cast<size_t>(o) * slices.size() + k) * chunk, src.data() + static_cast<size_t>(o) * chunk, chunk);
    }
  }
  return out;
}

// An empty scan output (a loop that ran no iteration): [0] plus the body output's recorded shape when known.
ir::Tensor empty_scan(const ir::Value& body_out) {
  std::vector<int64_t> shape = {0};
  ir::DType dtype = ir::DType::kFloat;
  if (body_out.type && body_out.type->kind == ir::TypeInfo::Kind::kTensor) {
    if (body_out.type->elem_type != 0) dtype = body_out.type->dtype();
    if (body_out.type->shape) {
      for (const ir::Dim& d : *body_out.type->shape) shape.push_back(d.value.value_or(0));
    }
  }
  return ir::Tensor(dtype, shape);
}

std::vector<ir::Tensor> run_if(const ir::Model& model, const ir::Node& n, std::span<const ir::Tensor* const> in,
                               const OuterScope& outer, ThreadPool& pool) {
  if (in.empty() || !in[0]) throw_bad_input("[If] node '{}' has no condition", ir::printable(n.name));
  const ir::Graph& branch = subgraph(n, true_scalar(*in[0], "the condition", n) ? "then_branch" : "else_branch");
  std::vector<ir::Tensor> outs = run_graph(model, plan_of(model, branch), {}, outer, pool);
  if (outs.size() != n.outputs().size()) {
    throw_bad_input("[If] node '{}': the branch '{}' gives {} outputs, the node declares {}", ir::printable(n.name),
                    ir::printable(branch.name), outs.size(), n.outputs().size());
  }
  return outs;
}

// The trip count M: an int64 scalar (a negative one runs no iteration).
int64_t trip_count(const ir::Tensor& m, const ir::Node& n) {
  if (m.dtype() != ir::DType::kInt64 || m.numel() != 1) {
    throw_bad_input("[Loop] node '{}': the trip count must be one int64, got {} {}", ir::printable(n.name), ir::dtype_name(m.dtype()),
                    ir::shape_to_string(m.shape()));
  }
  return std::max<int64_t>(m.values<int64_t>()[0], 0);
}

std::vector<ir::Tensor> run_loop(const ir::Model& model, const ir::Node& n, std::span<const ir::Tensor* const> in,
                                 const OuterScope& outer, ThreadPool& pool) {
  const ir::Graph& body = subgraph(n, "body");
  const Plan plan = plan_of(model, body);
  const bool has_trip = in.size() > 0 && in[0];
  const int64_t trip = has_trip ? trip_count(*in[0], n) : 0;
  const bool has_cond = in.size() > 1 && in[1];
  bool cond = has_cond ? true_scalar(*in[1], "the condition", n) : true;
  if (!has_trip && !has_cond) {
    throw_bad_input("[Loop] node '{}' has neither a trip count nor a condition: it would never end", ir::printable(n.name));
  }
  std::vector<ir::Tensor> carried;
  for (size_t i = 2; i < in.size(); ++i) {
    if (!in[i]) throw_bad_input("[Loop] node '{}': loop-carried input {} is missing", ir::printable(n.name), i);
    carried.push_back(*in[i]);
  }
  const size_t n_carried = carried.size();
  if (body.outputs.size() < 1 + n_carried || body.inputs.size() != 2 + n_carried) {
    throw_bad_input("[Loop] node '{}': the body takes {} inputs and gives {} outputs for {} loop-carried values", ir::printable(n.name),
                    body.inputs.size(), body.outputs.size(), n_carried);
  }
  const size_t n_scans = body.outputs.size() - 1 - n_carried;
  std::vector<std::vector<ir::Tensor>> scans(n_scans);
  const int64_t limit = max_loop_iterations();
  for (int64_t i = 0; (!has_trip || i < trip) && cond; ++i) {
    if (i >= limit) {
      throw_bad_input("[Loop] node '{}' ran {} iterations without ending (the limit; its condition never turned false?)",
                      ir::printable(n.name), limit);
    }
    std::vector<ir::Tensor> args;
    args.push_back(ir::Tensor::from_int64s({}, std::vector<int64_t>{i}));
    ir::Tensor c(ir::DType::kBool, {});
    c.mutable_bytes()[0] = std::byte{1};
    args.push_back(std::move(c));
    for (ir::Tensor& v : carried) args.push_back(v);
    std::vector<ir::Tensor> outs = run_graph(model, plan, args, outer, pool);
    if (has_cond) cond = true_scalar(outs[0], "the body's condition", n);
    for (size_t k = 0; k < n_carried; ++k) carried[k] = std::move(outs[1 + k]);
    for (size_t k = 0; k < n_scans; ++k) scans[k].push_back(std::move(outs[1 + n_carried + k]));
  }
  std::vector<ir::Tensor> result = std::move(carried);
  for (size_t k = 0; k < n_scans; ++k) {
    result.push_back(scans[k].empty() ? empty_scan(*body.outputs[1 + n_carried + k]) : stack(scans[k], 0, n));
  }
  return result;
}

std::vector<int64_t> ints_or(const ir::Node& n, const char* name, size_t count, int64_t fallback) {
  const ir::Attribute* a = n.attribute(name);
  if (!a) return std::vector<int64_t>(count, fallback);
  if (a->ints.size() != count) {
    throw_bad_input("[Scan] node '{}': {} has {} values for {} tensors", ir::printable(n.name), name, a->ints.size(), count);
  }
  return a->ints;
}

std::vector<ir::Tensor> run_scan(const ir::Model& model, const ir::Node& n, std::span<const ir::Tensor* const> in,
                                 const OuterScope& outer, ThreadPool& pool) {
  const ir::Graph& body = subgraph(n, "body");
  const ir::Attribute* m_attr = n.attribute("num_scan_inputs");
  if (!m_attr) throw_bad_input("[Scan] node '{}' has no num_scan_inputs", ir::printable(n.name));
  const auto m = static_cast<size_t>(m_attr->i);
  if (m < 1 || m > in.size()) throw_bad_input("[Scan] node '{}': num_scan_inputs {} for {} inputs", ir::printable(n.name), m, in.size());
  const size_t n_states = in.size() - m;
  if (body.inputs.size() != in.size() || body.outputs.size() < n_states) {
    throw_bad_input("[Scan] node '{}': the body takes {} inputs and gives {} outputs for {} inputs", ir::printable(n.name),
                    body.inputs.size(), body.outputs.size(), in.size());
  }
  const size_t n_outs = body.outputs.size() - n_states;
  const std::vector<int64_t> in_dirs = ints_or(n, "scan_input_directions", m, 0);
  std::vector<int64_t> in_axes = ints_or(n, "scan_input_axes", m, 0);
  const std::vector<int64_t> out_dirs = ints_or(n, "scan_output_directions", n_outs, 0);
  std::vector<int64_t> out_axes = ints_or(n, "scan_output_axes", n_outs, 0);
  std::vector<ir::Tensor> states;
  for (size_t i = 0; i < n_states; ++i) states.push_back(*in[i]);
  int64_t length = -1;
  for (size_t j = 0; j < m; ++j) {
    const ir::Tensor& x = *in[n_states + j];
    const auto rank = static_cast<int64_t>(x.rank());
    if (in_axes[j] < 0) in_axes[j] += rank;
    if (in_axes[j] < 0 || in_axes[j] >= rank) throw_bad_input("[Scan] node '{}': scan axis out of range for {}", ir::printable(n.name), ir::shape_to_string(x.shape()));
    const int64_t len = x.shape()[static_cast<size_t>(in_axes[j])];
    if (length >= 0 && len != length) throw_bad_input("[Scan] node '{}': scan inputs of lengths {} and {}", ir::printable(n.name), length, len);
    length = len;
  }
  const Plan plan = plan_of(model, body);
  std::vector<std::vector<ir::Tensor>> outs(n_outs, std::vector<ir::Tensor>(static_cast<size_t>(std::max<int64_t>(length, 0))));
  for (int64_t t = 0; t < length; ++t) {
    std::vector<ir::Tensor> args = states;
    for (size_t j = 0; j < m; ++j) {
      args.push_back(take(*in[n_states + j], in_axes[j], in_dirs[j] ? length - 1 - t : t, n));
    }
    std::vector<ir::Tensor> r = run_graph(model, plan, args, outer, pool);
    for (size_t i = 0; i < n_states; ++i) states[i] = std::move(r[i]);
    for (size_t k = 0; k < n_outs; ++k) outs[k][static_cast<size_t>(out_dirs[k] ? length - 1 - t : t)] = std::move(r[n_states + k]);
  }
  std::vector<ir::Tensor> result = std::move(states);
  for (size_t k = 0; k < n_outs; ++k) {
    if (outs[k].empty()) {
      result.push_back(empty_scan(*body.outputs[n_states + k]));
      continue;
    }
    const auto rank = static_cast<int64_t>(outs[k].front().rank()) + 1;
    int64_t axis = out_axes[k] < 0 ? out_axes[k] + rank : out_axes[k];
    if (axis < 0 || axis >= rank) throw_bad_input("[Scan] node '{}': scan output axis {} out of range", ir::printable(n.name), out_axes[k]);
    result.push_back(stack(outs[k], axis, n));
  }
  return result;
}

void collect_reads(const ir::Graph& g, std::unordered_set<const ir::Value*>& defined, std::vector<const ir::Value*>& reads,
                   std::unordered_set<const ir::Value*>& seen) {
  for (const ir::Value* v : g.inputs) defined.insert(v);
  for (const ir::Value* v : g.initializers) defined.insert(v);
  for (const auto& node : g.nodes()) {
    for (const ir::Value* v : node->outputs()) defined.insert(v);
  }
  auto read = [&](const ir::Value* v) {
    if (v && !defined.count(v) && seen.insert(v).second) reads.push_back(v);
  };
  for (const auto& node : g.nodes()) {
    for (const ir::Value* v : node->inputs()) read(v);
    for (const ir::Attribute& a : node->attributes()) {
      if (a.kind == ir::Attribute::Kind::kGraph && a.g) collect_reads(*a.g, defined, reads, seen);
      for (const auto& sg : a.graphs) collect_reads(*sg, defined, reads, seen);
    }
  }
  for (const ir::Value* v : g.outputs) read(v);
}

// What `a` and `b` agree on: the element type, and each dim of equal ranks where both know the same.
ir::TypeInfo agreement(const ir::TypeInfo& a, const ir::TypeInfo& b) {
  ir::TypeInfo t;
  t.elem_type = a.elem_type == b.elem_type ? a.elem_type : 0;
  if (a.shape && b.shape && a.shape->size() == b.shape->size()) {
    std::vector<ir::Dim> dims;
    for (size_t i = 0; i < a.shape->size(); ++i) dims.push_back((*a.shape)[i] == (*b.shape)[i] ? (*a.shape)[i] : ir::Dim{});
    t.shape = std::move(dims);
  }
  return t;
}

ir::TypeInfo recorded(const ir::Value* v) { return v && v->type && v->type->kind == ir::TypeInfo::Kind::kTensor ? *v->type : ir::TypeInfo{}; }

// `t` with `dim` inserted at `axis` (shape unknown stays unknown).
ir::TypeInfo with_axis(ir::TypeInfo t, int64_t axis, ir::Dim dim) {
  if (!t.shape) return t;
  const auto rank = static_cast<int64_t>(t.shape->size()) + 1;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return ir::TypeInfo{t.kind, t.elem_type, std::nullopt, {}, {}};
  t.shape->insert(t.shape->begin() + axis, std::move(dim));
  return t;
}

}  // namespace

std::vector<ir::TypeInfo> control_flow_types(const ir::Node& n, std::span<const ir::TypeInfo* const> inputs) {
  std::vector<ir::TypeInfo> out(n.outputs().size());
  if (n.op_type() == "If") {
    const ir::Attribute* then_b = n.attribute("then_branch");
    const ir::Attribute* else_b = n.attribute("else_branch");
    if (!then_b || !then_b->g || !else_b || !else_b->g) return out;
    for (size_t i = 0; i < out.size() && i < then_b->g->outputs.size() && i < else_b->g->outputs.size(); ++i) {
      out[i] = agreement(recorded(then_b->g->outputs[i]), recorded(else_b->g->outputs[i]));
    }
    return out;
  }
  const ir::Attribute* body_a = n.attribute("body");
  if (!body_a || !body_a->g) return out;
  const ir::Graph& body = *body_a->g;
  if (n.op_type() == "Loop") {
    const size_t carried = inputs.size() > 2 ? inputs.size() - 2 : 0;
    for (size_t k = 0; k < out.size(); ++k) {
      if (1 + k >= body.outputs.size()) break;
      const ir::TypeInfo b = recorded(body.outputs[1 + k]);
      if (k < carried) out[k] = inputs[2 + k] ? agreement(*inputs[2 + k], b) : ir::TypeInfo{};
      else out[k] = with_axis(b, 0, ir::Dim{});  // iterations: known only when run
    }
    return out;
  }
  const ir::Attribute* m_attr = n.attribute("num_scan_inputs");  // Scan
  if (!m_attr || m_attr->i < 1 || static_cast<size_t>(m_attr->i) > inputs.size()) return out;
  const size_t states = inputs.size() - static_cast<size_t>(m_attr->i);
  ir::Dim length;
  if (const ir::TypeInfo* first = inputs[states]; first && first->shape) {
    const ir::Attribute* axes = n.attribute("scan_input_axes");
    int64_t axis = axes && !axes->ints.empty() ? axes->ints[0] : 0;
    if (axis < 0) axis += static_cast<int64_t>(first->shape->size());
    if (axis >= 0 && static_cast<size_t>(axis) < first->shape->size()) length = (*first->shape)[static_cast<size_t>(axis)];
  }
  const ir::Attribute* out_axes = n.attribute("scan_output_axes");
  for (size_t k = 0; k < out.size() && k < body.outputs.size(); ++k) {
    if (k < states) {
      out[k] = inputs[k] ? agreement(*inputs[k], recorded(body.outputs[k])) : ir::TypeInfo{};
    } else {
      const size_t j = k - states;
      const int64_t axis = out_axes && j < out_axes->ints.size() ? out_axes->ints[j] : 0;
      out[k] = with_axis(recorded(body.outputs[k]), axis, length);
    }
  }
  return out;
}

bool is_control_flow(const ir::Node& n, int64_t opset) {
  if (!n.domain().empty()) return false;
  return n.op_type() == "If" || n.op_type() == "Loop" || (n.op_type() == "Scan" && opset >= 9);
}

std::vector<const ir::Value*> subgraph_outer_reads(const ir::Node& n) {
  std::vector<const ir::Value*> reads;
  std::unordered_set<const ir::Value*> seen;
  for (const ir::Attribute& a : n.attributes()) {
    std::unordered_set<const ir::Value*> defined;  // each subgraph's own values shadow nothing outside it
    if (a.kind == ir::Attribute::Kind::kGraph && a.g) collect_reads(*a.g, defined, reads, seen);
  }
  return reads;
}

void check_control_flow(const ir::Model& model, const ir::Node& n) {
  for (const ir::Attribute& a : n.attributes()) {
    if (a.kind != ir::Attribute::Kind::kGraph || !a.g) continue;
    const Plan p = plan_of(model, *a.g);
    for (const Plan::Step& s : p.steps) {
      if (!s.op) check_control_flow(model, *s.node);
    }
  }
}

std::vector<ir::Tensor> run_control_flow(const ir::Model& model, const ir::Node& n, std::span<const ir::Tensor* const> inputs,
                                         const OuterScope& outer, ThreadPool& pool) {
  if (n.op_type() == "If") return run_if(model, n, inputs, outer, pool);
  if (n.op_type() == "Loop") return run_loop(model, n, inputs, outer, pool);
  return run_scan(model, n, inputs, outer, pool);
}

}  // namespace scalec::kernels
