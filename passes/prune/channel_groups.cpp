#include "passes/prune/channel_groups.h"

#include <algorithm>
#include <optional>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include "ir/node_attrs.h"
#include "passes/core/constant.h"

namespace scalec::passes::channel {

namespace {

// The value's shape (initializer or recorded/inferred type), unknown dimensions as -1; nullopt
// when even the rank is unknown.
std::optional<std::vector<int64_t>> shape_of(const ir::Value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->initializer) return v->initializer->shape();
  if (!v->type || v->type->kind != ir::TypeInfo::Kind::kTensor || !v->type->shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : *v->type->shape) dims.push_back(d.value ? *d.value : -1);
  return dims;
}

std::optional<std::vector<int64_t>> int_values(const ir::Tensor* t) {
  if (t == nullptr || (t->dtype() != ir::DType::kInt64 && t->dtype() != ir::DType::kInt32)) return std::nullopt;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < t->numel(); ++i) out.push_back(static_cast<int64_t>(t->element_as_double(i)));
  return out;
}

bool is_weight_dtype(ir::DType t) {
  return t == ir::DType::kFloat || t == ir::DType::kDouble || t == ir::DType::kFloat16 || t == ir::DType::kBFloat16;
}

bool in(std::string_view op, std::span<const std::string_view> names) {
  return std::find(names.begin(), names.end(), op) != names.end();
}

// Ops that act on each element alone: the channel layout passes through unchanged.
constexpr std::string_view kUnary[] = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu",
    "Softplus", "Softsign", "ThresholdedRelu", "Identity", "Neg", "Abs", "Exp", "Log", "Sqrt",
    "Reciprocal", "Erf", "Gelu", "Mish", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Cast",
    "Dropout", "Clip"};
// Ops that combine their inputs element by element (with broadcasting).
constexpr std::string_view kBinary[] = {
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "PRelu"};
constexpr std::string_view kPools[] = {
    "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"};
constexpr std::string_view kReduce[] = {
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare",
    "ReduceProd", "ReduceLogSum", "ReduceLogSumExp"};

// Walks the main graph once, in topological order.
class Walker {
 public:
  Walker(ir::Model& model, ChannelGraph& cg) : model_(model), g_(*model.graph), cg_(cg) {}

  void run() {
    const std::vector<ir::Node*> order = g_.topological_order();
    for (ir::Node* n : order) visit(*n);
    for (const ir::Value* out : g_.outputs) {
      if (const Layout* l = layout(out)) cg_.block(*l, fmt::format("the channels reach graph output '{}'", out->name()));
    }
    for (const ir::Node* n : order) {
      for (const ir::Value* v : n->outputs()) {
        const Layout* l = v ? layout(v) : nullptr;
        if (l == nullptr) continue;
        for (const ir::Use& u : v->uses()) {
          if (u.node->owner() != &g_) cg_.block(*l, fmt::format("a subgraph reads '{}'", v->name()));
        }
      }
    }
  }

 private:
  const ir::Tensor* constant(const ir::Value* v) const { return constant_tensor(g_, v); }
  const ir::Tensor* weight(const ir::Value* v, int64_t min_rank) const {
    const ir::Tensor* t = constant(v);
    return t != nullptr && is_weight_dtype(t->dtype()) && t->rank() >= min_rank ? t : nullptr;
  }
  const Layout* layout(const ir::Value* v) const {
    auto it = cg_.layouts.find(v);
    return it == cg_.layouts.end() ? nullptr : &it->second;
  }
  static std::string who(const ir::Node& n) { return fmt::format("{} '{}'", n.op_type(), n.name); }
  void block_inputs(const ir::Node& n, const std::vector<size_t>& tracked, const std::string& why) {
    for (size_t s : tracked) cg_.block(*layout(n.input(s)), why);
  }
  void pass_through(const ir::Node& n, const Layout& l) {
    if (n.output(0) != nullptr) cg_.layouts[n.output(0)] = l;
  }
  // True when an output other than the first is read (Dropout's mask, MaxPool's indices, ...).
  bool extra_outputs_used(const ir::Node& n) const {
    for (size_t i = 1; i < n.outputs().size(); ++i) {
      const ir::Value* o = n.output(i);
      if (o != nullptr && (!o->uses().empty() || std::count(g_.outputs.begin(), g_.outputs.end(), o))) return true;
    }
    return false;
  }
  void new_group(ir::Node& n, int64_t weight_axis, int64_t channels, int64_t axis = 1) {
    const auto id = static_cast<int32_t>(cg_.producers.size());
    cg_.producers.push_back({&n, weight_axis, channels});
    cg_.blocked.emplace_back();
    cg_.parent.push_back(id);
    Layout l;
    l.axis = axis;
    for (int64_t i = 0; i < channels; ++i) l.atoms.push_back({id, i});
    cg_.layouts[n.output(0)] = std::move(l);
  }
  // A run of channels no prunable layer produces (a Concat input the walk does not track).
  int32_t fixed_group(int64_t channels, const std::string& why) {
    const auto id = static_cast<int32_t>(cg_.producers.size());
    cg_.producers.push_back({nullptr, 0, channels});
    cg_.blocked.push_back(why);
    cg_.parent.push_back(id);
    return id;
  }

  void visit(ir::Node& n) {
    std::vector<size_t> tracked;
    for (size_t i = 0; i < n.inputs().size(); ++i) {
      if (n.input(i) != nullptr && layout(n.input(i)) != nullptr) tracked.push_back(i);
    }
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx") {
      block_inputs(n, tracked, fmt::format("unsupported op {}", who(n)));
      return;
    }
    if (op == "Conv") return conv(n, tracked);
    if (op == "Gemm") return gemm(n, tracked);
    if (op == "MatMul") return matmul(n, tracked);
    if (tracked.empty()) return;
    if (in(op, kUnary)) return unary(n, tracked);
    if (in(op, kPools)) return pool(n, tracked);
    if (in(op, kBinary)) return elementwise(n, tracked);
    if (op == "BatchNormalization" || op == "InstanceNormalization") return norm(n, tracked);
    if (op == "Transpose") return transpose(n, tracked);
    if (op == "Concat") return concat(n, tracked);
    if (op == "Flatten" || op == "Reshape") return flatten(n, tracked);
    if (in(op, kReduce) || op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") return per_channel_axes(n, tracked);
    if (op == "Pad") return pad(n, tracked);
    if (op == "LayerNormalization") return layer_norm(n, tracked);
    if (op == "Shape") return shape(n, tracked);
    block_inputs(n, tracked, fmt::format("unsupported op {}", who(n)));
  }

  void conv(ir::Node& n, const std::vector<size_t>& tracked) {
    ir::Value* x = n.input(0);
    const ir::Tensor* w = weight(n.input(1), 3);
    const ir::Tensor* b = n.input(2) ? weight(n.input(2), 1) : nullptr;
    const bool bias_ok = n.input(2) == nullptr || (b != nullptr && b->rank() == 1);
    const int64_t group = ir::int_attr(n, "group", 1);
    for (size_t s : tracked) {
      if (s != 0) cg_.block(*layout(n.input(s)), fmt::format("{} reads the channels as a weight", who(n)));
    }
    if (const Layout* l = x ? layout(x) : nullptr) {
      const auto c = static_cast<int64_t>(l->atoms.size());
      if (l->axis != 1) {
        cg_.block(*l, fmt::format("{} reads channels-last values", who(n)));
      } else if (w == nullptr || l->block != 1) {
        cg_.block(*l, fmt::format("{} has no constant float weight to slice", who(n)));
      } else if (group == 1 && w->shape()[1] == c) {
        cg_.slices.push_back({&n, 1, 1, x});
      } else if (group == c && w->shape()[0] == c && w->shape()[1] == 1 && bias_ok) {
        // Depthwise: channel c in, channel c out; the layout passes through.
        cg_.slices.push_back({&n, 1, 0, x});
        if (b != nullptr) cg_.slices.push_back({&n, 2, 0, x});
        cg_.depthwise.emplace_back(&n, x);
        pass_through(n, *l);
        return;
      } else {
        cg_.block(*l, fmt::format("{} is a grouped convolution (group {})", who(n), group));
      }
    }
    if (group != 1 || w == nullptr || !bias_ok || n.output(0) == nullptr) return;
    new_group(n, 0, w->shape()[0]);
    cg_.slices.push_back({&n, 1, 0, n.output(0)});
    if (b != nullptr) cg_.slices.push_back({&n, 2, 0, n.output(0)});
  }

  void gemm(ir::Node& n, const std::vector<size_t>& tracked) {
    const bool trans_a = ir::int_attr(n, "transA", 0) != 0;
    const bool trans_b = ir::int_attr(n, "transB", 0) != 0;
    const ir::Tensor* bw = weight(n.input(1), 2);
    if (bw != nullptr && bw->rank() != 2) bw = nullptr;
    for (size_t s : tracked) {
      if (s != 0) cg_.block(*layout(n.input(s)), fmt::format("{} reads the channels as a weight", who(n)));
    }
    if (const Layout* l = layout(n.input(0))) {
      const int64_t width = static_cast<int64_t>(l->atoms.size()) * l->block;
      if (bw == nullptr || trans_a || l->axis != 1 || bw->shape()[trans_b ? 1 : 0] != width) {
        cg_.block(*l, fmt::format("{} cannot drop its input columns (transA or no constant weight)", who(n)));
      } else {
        cg_.slices.push_back({&n, 1, trans_b ? 1 : 0, n.input(0)});
      }
    }
    if (bw == nullptr || n.output(0) == nullptr) return;
    const int64_t k = bw->shape()[trans_b ? 0 : 1];
    const ir::Value* c = n.input(2);
    int64_t c_axis = -1;  // axis of C to slice; -1: C is absent or broadcasts over the units
    if (c != nullptr) {
      auto cs = shape_of(c);
      if (!cs) return;
      if (!cs->empty() && cs->back() != 1) {
        if (cs->back() != k || constant(c) == nullptr) return;
        c_axis = static_cast<int64_t>(cs->size()) - 1;
      }
    }
    new_group(n, trans_b ? 0 : 1, k);
    cg_.slices.push_back({&n, 1, trans_b ? 0 : 1, n.output(0)});
    if (c_axis >= 0) cg_.slices.push_back({&n, 2, c_axis, n.output(0)});
  }

  // MatMul by a constant [K, N] matrix: reads channels on A's last axis (slicing rows of B) and
  // produces N channels on its output's last axis (a transformer's Linear, [B, T, K] -> [B, T, N]).
  void matmul(ir::Node& n, const std::vector<size_t>& tracked) {
    const ir::Tensor* bw = weight(n.input(1), 2);
    if (bw != nullptr && bw->rank() != 2) bw = nullptr;
    auto xs = shape_of(n.input(0));
    const int64_t rank = xs ? static_cast<int64_t>(xs->size()) : 0;
    for (size_t s : tracked) {
      if (s != 0) cg_.block(*layout(n.input(s)), fmt::format("{} reads the channels as a weight", who(n)));
    }
    if (const Layout* l = layout(n.input(0))) {
      const int64_t width = static_cast<int64_t>(l->atoms.size()) * l->block;
      if (bw == nullptr || rank < 2 || l->axis != rank - 1 || bw->shape()[0] != width) {
        cg_.block(*l, fmt::format("{} cannot drop its input rows", who(n)));
      } else {
        cg_.slices.push_back({&n, 1, 0, n.input(0)});
      }
    }
    if (bw == nullptr || rank < 2 || n.output(0) == nullptr) return;
    new_group(n, 1, bw->shape()[1], rank - 1);
    cg_.slices.push_back({&n, 1, 1, n.output(0)});
  }

  void unary(ir::Node& n, const std::vector<size_t>& tracked) {
    if (tracked.size() != 1 || tracked[0] != 0 || extra_outputs_used(n)) {
      return block_inputs(n, tracked, fmt::format("{} uses the channels in a way the pass cannot follow", who(n)));
    }
    pass_through(n, *layout(n.input(0)));
  }

  // Pools work on axes 2.. of [N, C, ...]: channels must be on axis 1.
  void pool(ir::Node& n, const std::vector<size_t>& tracked) {
    if (tracked.size() == 1 && layout(n.input(tracked[0]))->axis != 1) {
      return block_inputs(n, tracked, fmt::format("{} pools across channels-last values", who(n)));
    }
    unary(n, tracked);
  }

  // Transpose moves the channel axis to where the permutation puts it.
  void transpose(ir::Node& n, const std::vector<size_t>& tracked) {
    const Layout* l = layout(n.input(0));
    auto s = shape_of(n.input(0));
    const ir::Attribute* perm = n.attribute("perm");
    std::vector<int64_t> p;
    if (perm != nullptr) p = perm->ints;
    else if (s) for (int64_t i = static_cast<int64_t>(s->size()) - 1; i >= 0; --i) p.push_back(i);  // reverses
    auto it = std::find(p.begin(), p.end(), l ? l->axis : -1);
    if (l == nullptr || tracked.size() != 1 || !s || p.size() != s->size() || it == p.end()) {
      return block_inputs(n, tracked, fmt::format("{} moves the channels where the pass cannot follow", who(n)));
    }
    Layout out = *l;
    out.axis = it - p.begin();
    pass_through(n, out);
  }

  void norm(ir::Node& n, const std::vector<size_t>& tracked) {
    const Layout* l = layout(n.input(0));
    bool ok = l != nullptr && tracked.size() == 1 && l->block == 1 && l->axis == 1 && !extra_outputs_used(n);
    for (size_t s = 1; ok && s < n.inputs().size(); ++s) {
      const ir::Tensor* p = weight(n.input(s), 1);
      ok = p != nullptr && p->rank() == 1 && p->numel() == static_cast<int64_t>(l->atoms.size());
    }
    if (!ok) return block_inputs(n, tracked, fmt::format("{} has parameters the pass cannot slice", who(n)));
    for (size_t s = 1; s < n.inputs().size(); ++s) cg_.slices.push_back({&n, s, 0, n.input(0)});
    pass_through(n, *l);
  }

  void elementwise(ir::Node& n, const std::vector<size_t>& tracked) {
    const ir::Value* ref = n.input(tracked[0]);
    const Layout l = *layout(ref);
    auto rs = shape_of(ref);
    auto os = shape_of(n.output(0));
    std::string why;
    if (!rs || rs->size() < 2 || (os && os->size() != rs->size())) why = fmt::format("{} broadcasts the channels", who(n));
    const auto rank = rs ? static_cast<int64_t>(rs->size()) : 0;
    const int64_t width = static_cast<int64_t>(l.atoms.size()) * l.block;
    for (size_t i = 0; why.empty() && i < n.inputs().size(); ++i) {
      const ir::Value* v = n.input(i);
      if (v == nullptr || i == tracked[0]) continue;
      auto s = shape_of(v);
      if (const Layout* o = layout(v)) {
        if (!s || static_cast<int64_t>(s->size()) != rank || !unite_layouts(l, *o)) {
          why = fmt::format("{} joins channels that do not line up", who(n));
        }
        continue;
      }
      if (!s || static_cast<int64_t>(s->size()) > rank) {
        why = fmt::format("{} joins a value of unknown or larger shape ('{}')", who(n), v->name());
        continue;
      }
      const int64_t a = static_cast<int64_t>(s->size()) - (rank - l.axis);  // v's axis aligned with the channels
      if (a < 0 || (*s)[static_cast<size_t>(a)] == 1) continue;    // v broadcasts over the channels
      if ((*s)[static_cast<size_t>(a)] == width && constant(v) != nullptr) {
        cg_.slices.push_back({&n, i, a, ref});
        continue;
      }
      why = fmt::format("{} joins a value the pass cannot prune ('{}')", who(n), v->name());
    }
    if (!why.empty()) block_inputs(n, tracked, why);
    pass_through(n, l);
  }

  // Unites the groups of two layouts channel by channel; false when they do not line up.
  bool unite_layouts(const Layout& a, const Layout& b) {
    if (a.block != b.block || a.axis != b.axis || a.atoms.size() != b.atoms.size()) return false;
    for (size_t j = 0; j < a.atoms.size(); ++j) {
      const Atom& x = a.atoms[j];
      const Atom& y = b.atoms[j];
      if (x.index != y.index || cg_.producers[static_cast<size_t>(x.group)].channels !=
                                    cg_.producers[static_cast<size_t>(y.group)].channels) {
        return false;
      }
    }
    for (size_t j = 0; j < a.atoms.size(); ++j) cg_.unite(a.atoms[j].group, b.atoms[j].group);
    return true;
  }

  void concat(ir::Node& n, const std::vector<size_t>& tracked) {
    auto os = shape_of(n.output(0));
    const int64_t rank = os ? static_cast<int64_t>(os->size()) : -1;
    int64_t axis = ir::int_attr(n, "axis", 0);
    if (axis < 0) axis += rank;
    Layout out;
    out.axis = layout(n.input(tracked[0]))->axis;
    bool ok = rank >= 2 && axis == out.axis;
    for (size_t i = 0; ok && i < n.inputs().size(); ++i) {
      const ir::Value* v = n.input(i);
      if (const Layout* l = layout(v)) {
        ok = l->block == 1 && l->axis == out.axis;
        out.atoms.insert(out.atoms.end(), l->atoms.begin(), l->atoms.end());
        continue;
      }
      auto s = shape_of(v);
      const auto ax = static_cast<size_t>(out.axis);
      ok = s && static_cast<int64_t>(s->size()) == rank && (*s)[ax] >= 0;
      if (!ok) break;
      const int32_t fixed = fixed_group((*s)[ax], fmt::format("tied by {} to a value no prunable layer produces ('{}')", who(n), v->name()));
      for (int64_t c = 0; c < (*s)[ax]; ++c) out.atoms.push_back({fixed, c});
    }
    if (!ok) return block_inputs(n, tracked, fmt::format("{} joins values the pass cannot line up", who(n)));
    pass_through(n, out);
  }

  // Flatten(axis 1) and Reshape to [N, -1]: channel c then owns a block of C*H*W columns.
  void flatten(ir::Node& n, const std::vector<size_t>& tracked) {
    const Layout* l = layout(n.input(0));
    auto s = shape_of(n.input(0));
    const std::string why = fmt::format("{} mixes the channels with other axes", who(n));
    if (l == nullptr || tracked.size() != 1 || !s || s->size() < 2 || l->axis != 1) return block_inputs(n, tracked, why);
    int64_t inner = 1;
    for (size_t i = 2; i < s->size(); ++i) inner = (*s)[i] > 0 && inner > 0 ? inner * (*s)[i] : -1;
    if (inner <= 0) return block_inputs(n, tracked, why);
    const int64_t width = static_cast<int64_t>(l->atoms.size()) * l->block * inner;
    bool rewrite = false;
    if (n.op_type() == "Flatten") {
      int64_t axis = ir::int_attr(n, "axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(s->size());
      if (axis != 1) return block_inputs(n, tracked, why);
    } else {
      auto target = int_values(constant(n.input(1)));
      if (!target || target->size() != 2) return block_inputs(n, tracked, why);
      const int64_t s0 = (*target)[0], s1 = (*target)[1];
      const bool batch_ok = (s0 == 0 && ir::int_attr(n, "allowzero", 0) == 0) || (s0 == -1 && s1 != -1) ||
                            (s0 > 0 && s0 == (*s)[0]);
      if (!batch_ok || (s1 != -1 && s1 != width)) return block_inputs(n, tracked, why);
      rewrite = s1 != -1;
    }
    Layout out{l->block * inner, 1, l->atoms};
    pass_through(n, out);
    if (rewrite) cg_.reshapes.push_back({&n, n.output(0)});
  }

  // Reductions and softmaxes: fine when the axes they touch are not the channel axis and, for a
  // reduction, lie after it (or keep their dims), so the channels stay on one known axis.
  void per_channel_axes(ir::Node& n, const std::vector<size_t>& tracked) {
    const std::string& op = n.op_type();
    auto s = shape_of(n.input(0));
    const int64_t opset = model_.opset_version();
    const bool reduce = !(op == "Softmax" || op == "LogSoftmax" || op == "Hardmax");
    std::optional<std::vector<int64_t>> axes;
    if (!reduce) {
      axes = std::vector<int64_t>{ir::int_attr(n, "axis", opset >= 13 ? -1 : 1)};
    } else if (opset >= (op == "ReduceSum" ? 13 : 18)) {
      if (n.input(1) != nullptr) axes = int_values(constant(n.input(1)));
    } else if (const ir::Attribute* a = n.attribute("axes")) {
      axes = a->ints;
    }
    const Layout* l = layout(n.input(0));
    const bool keepdims = !reduce || ir::int_attr(n, "keepdims", 1) != 0;
    bool ok = l != nullptr && tracked.size() == 1 && s && axes && !axes->empty() && !extra_outputs_used(n);
    Layout out = ok ? *l : Layout{};
    for (size_t i = 0; ok && i < axes->size(); ++i) {
      const int64_t a = (*axes)[i] < 0 ? (*axes)[i] + static_cast<int64_t>(s->size()) : (*axes)[i];
      // Before opset 13 a softmax works on the flattened axes [a, rank): the channels must come first.
      ok = reduce || opset >= 13 ? a != l->axis : a > l->axis;
      if (a < l->axis && !keepdims) --out.axis;
    }
    if (!ok) return block_inputs(n, tracked, fmt::format("{} works across the channels", who(n)));
    pass_through(n, out);
  }

  // LayerNormalization normalizes over axes [axis, rank): fine when the channels lie before them.
  void layer_norm(ir::Node& n, const std::vector<size_t>& tracked) {
    const Layout* l = layout(n.input(0));
    auto s = shape_of(n.input(0));
    int64_t axis = ir::int_attr(n, "axis", -1);
    if (s && axis < 0) axis += static_cast<int64_t>(s->size());
    if (l == nullptr || tracked.size() != 1 || !s || extra_outputs_used(n)) {
      return block_inputs(n, tracked, fmt::format("{} uses the channels in a way the pass cannot follow", who(n)));
    }
    if (l->axis >= axis) return block_inputs(n, tracked, fmt::format("{} normalizes across the channels", who(n)));
    pass_through(n, *l);
  }

  // Shape passes no channels on; it only matters when a consumer reads the channel count (a head
  // split or a Reshape computed from it). Reading other dims (Gather of a constant index) is fine.
  void shape(ir::Node& n, const std::vector<size_t>& tracked) {
    const Layout* l = layout(n.input(0));
    auto s = shape_of(n.input(0));
    const std::string why = fmt::format("{} reads the channel count", who(n));
    const ir::Value* out = n.output(0);
    if (l == nullptr || !s || n.attribute("start") != nullptr || n.attribute("end") != nullptr || out == nullptr ||
        std::count(g_.outputs.begin(), g_.outputs.end(), out)) {
      return block_inputs(n, tracked, why);
    }
    for (const ir::Use& u : out->uses()) {
      const bool gather = u.node->op_type() == "Gather" && u.input_index == 0 && ir::int_attr(*u.node, "axis", 0) == 0;
      auto idx = gather ? int_values(constant(u.node->input(1))) : std::nullopt;
      if (!idx || idx->empty()) return block_inputs(n, tracked, why);
      for (int64_t i : *idx) {
        if ((i < 0 ? i + static_cast<int64_t>(s->size()) : i) == l->axis) return block_inputs(n, tracked, why);
      }
    }
  }

  void pad(ir::Node& n, const std::vector<size_t>& tracked) {
    auto s = shape_of(n.input(0));
    std::optional<std::vector<int64_t>> pads;
    if (model_.opset_version() < 11) {
      if (const ir::Attribute* a = n.attribute("pads")) pads = a->ints;
    } else if (n.inputs().size() < 4 || n.input(3) == nullptr) {
      pads = int_values(constant(n.input(1)));
    }
    const Layout* l = layout(n.input(0));
    const auto ax = static_cast<size_t>(l ? l->axis : 0);
    const bool ok = l != nullptr && tracked.size() == 1 && s && pads &&
                    pads->size() == 2 * s->size() && s->size() >= 2 && (*pads)[ax] == 0 &&
                    (*pads)[s->size() + ax] == 0;
    if (!ok) return block_inputs(n, tracked, fmt::format("{} pads the channel axis", who(n)));
    pass_through(n, *layout(n.input(0)));
  }

  ir::Model& model_;
  ir::Graph& g_;
  ChannelGraph& cg_;
};

}  // namespace

int32_t ChannelGraph::find(int32_t g) {
  while (parent[static_cast<size_t>(g)] != g) {
    auto& p = parent[static_cast<size_t>(g)];
    p = parent[static_cast<size_t>(p)];
    g = p;
  }
  return g;
}

void ChannelGraph::unite(int32_t a, int32_t b) {
  a = find(a);
  b = find(b);
  if (a != b) parent[static_cast<size_t>(std::max(a, b))] = std::min(a, b);
}

void ChannelGraph::block(const Layout& layout, const std::string& reason) {
  for (const Atom& a : layout.atoms) {
    std::string& r = blocked[static_cast<size_t>(a.group)];
    if (r.empty()) r = reason;
  }
}

ChannelGraph analyze_channels(ir::Model& model) {
  ChannelGraph cg;
  Walker(model, cg).run();
  return cg;
}

}  // namespace scalec::passes::channel
