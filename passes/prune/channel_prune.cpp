#include "passes/core/pass_options.h"
#include "passes/prune/channel_prune.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "ir/error.h"
#include "ir/model_stats.h"
#include "ir/verifier.h"
#include "kernels/exec/shape_inference.h"
#include "kernels/exec/model_macs.h"
#include "passes/core/constant.h"
#include "passes/core/name_match.h"
#include "passes/prune/attention_heads.h"
#include "passes/prune/channel_groups.h"

namespace scalec::passes {

namespace {

using channel::Atom;
using channel::ChannelGraph;
using channel::Layout;

// Recorded types of every value, so the types shape inference adds can be taken back.
using TypeSnapshot = std::vector<std::pair<ir::Value*, std::optional<ir::TypeInfo>>>;

TypeSnapshot snapshot_types(const ir::Graph& g) {
  TypeSnapshot s;
  for (const auto& v : g.values()) s.emplace_back(v.get(), v->type);
  return s;
}

void restore_types(TypeSnapshot& s) {
  for (auto& [v, t] : s) v->type = std::move(t);
}

// (outer, dim, inner) of a tensor viewed around `axis`.
struct AxisView {
  int64_t outer = 1, dim = 1, inner = 1;
};

AxisView view_around(const std::vector<int64_t>& shape, int64_t axis) {
  AxisView v;
  for (size_t i = 0; i < shape.size(); ++i) {
    const auto a = static_cast<int64_t>(i);
    if (a < axis) v.outer *= shape[i];
    else if (a == axis) v.dim = shape[i];
    else v.inner *= shape[i];
  }
  return v;
}

// The tensor with only the `keep` entries (in order) of `axis`.
ir::Tensor slice_axis(const ir::Tensor& t, int64_t axis, const std::vector<int64_t>& keep) {
  const int bits = ir::dtype_bits(t.dtype());
  if (bits == 0 || bits % 8 != 0) throw_internal("prune-channels: cannot slice a {} tensor", ir::dtype_name(t.dtype()));
  const auto es = static_cast<size_t>(bits / 8);
  const AxisView v = view_around(t.shape(), axis);
  std::vector<int64_t> shape = t.shape();
  shape[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
  ir::Tensor out(t.dtype(), shape);
  const std::byte* src = t.bytes().data();
  std::byte* dst = out.mutable_bytes().data();
  const size_t row = static_cast<size_t>(v.inner) * es;
  for (int64_t o = 0; o < v.outer; ++o) {
    for (size_t k = 0; k < keep.size(); ++k) {
      const auto from = static_cast<size_t>(o * v.dim + keep[k]) * row;
      std::memcpy(dst + (static_cast<size_t>(o) * keep.size() + k) * row, src + from, row);
    }
  }
  return out;
}

// Adds the L1 norm of each entry of `axis` of `w` to score[entry].
void add_l1(const ir::Tensor& w, int64_t axis, std::vector<double>& score) {
  const AxisView v = view_around(w.shape(), axis);
  const bool f32 = w.dtype() == ir::DType::kFloat;
  const auto values = f32 ? w.values<float>() : std::span<const float>{};
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t c = 0; c < v.dim; ++c) {
      double sum = 0;
      const int64_t base = (o * v.dim + c) * v.inner;
      for (int64_t i = base; i < base + v.inner; ++i) {
        sum += f32 ? std::fabs(static_cast<double>(values[static_cast<size_t>(i)])) : std::fabs(w.element_as_double(i));
      }
      score[static_cast<size_t>(c)] += sum;
    }
  }
}

// "11.7M", "1.82G", "950"
std::string human(int64_t n) {
  const auto d = static_cast<double>(n);
  if (n >= 1000000000) return fmt::format("{:.3g}G", d / 1e9);
  if (n >= 1000000) return fmt::format("{:.3g}M", d / 1e6);
  if (n >= 1000) return fmt::format("{:.3g}K", d / 1e3);
  return std::to_string(n);
}

// The reason without the names and numbers of one case ("Conv 'c3' is a grouped convolution
// (group 24)" -> "Conv is a grouped convolution"), so coverage groups the layers it holds back.
std::string generic_reason(const std::string& reason) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (char ch : reason) {
    if (ch == '\'' && depth == 0) quoted = !quoted;
    else if (!quoted && ch == '(') ++depth;
    else if (!quoted && ch == ')') depth = std::max(0, depth - 1);
    else if (!quoted && depth == 0 && !(ch == ' ' && (out.empty() || out.back() == ' '))) out += ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// One channel group (a union-find root) and the channels it keeps.
struct GroupPlan {
  std::vector<int32_t> members;  ///< raw groups, in id (topological) order
  std::string reason;
  double ratio = 0;
  std::vector<char> keep;  ///< per channel; empty when the group keeps everything
  int64_t channels = 0;
  int64_t kept = 0;
};

class Pruner {
 public:
  Pruner(ir::Model& model, ChannelGraph& cg, const ChannelPruneOptions& o) : g_(*model.graph), cg_(cg), o_(o) {}

  void plan(ChannelPruneReport& rep) {
    plans_.resize(cg_.producers.size());
    for (size_t m = 0; m < cg_.producers.size(); ++m) {
      if (cg_.producers[m].node != nullptr) producer_of_.emplace(cg_.producers[m].node, m);
    }
    for (int32_t m = 0; m < static_cast<int32_t>(cg_.producers.size()); ++m) {
      GroupPlan& p = plans_[static_cast<size_t>(cg_.find(m))];
      p.members.push_back(m);
      if (p.reason.empty()) p.reason = cg_.blocked[static_cast<size_t>(m)];
    }
    std::vector<std::optional<ChannelPruneLayer>> by_producer(cg_.producers.size());
    std::vector<int> number(plans_.size(), 0);  // by root: the group number the report shows
    int group_number = 0;
    for (size_t root = 0; root < plans_.size(); ++root) {
      GroupPlan& p = plans_[root];
      const bool has_layer = std::any_of(p.members.begin(), p.members.end(), [&](int32_t m) {
        return cg_.producers[static_cast<size_t>(m)].node != nullptr;
      });
      if (!has_layer) continue;
      decide(p);
      number[root] = ++group_number;
      ++rep.groups;
      if (p.kept < p.channels) ++rep.groups_pruned;
      for (int32_t m : p.members) {
        const ir::Node* n = cg_.producers[static_cast<size_t>(m)].node;
        if (n == nullptr) continue;
        const std::string& weight = n->input(1)->name();
        const ir::Tensor* w = constant_tensor(g_, n->input(1));
        by_producer[static_cast<size_t>(m)] =
            ChannelPruneLayer{n->name.empty() ? weight : n->name, n->op_type(), weight, group_number, p.channels, p.kept,
                              p.reason, generic_reason(p.reason), w ? w->numel() : 0};
      }
    }
    // Depthwise Convs follow their input's channels: listed with that group, in topological order.
    std::map<const ir::Node*, ChannelPruneLayer> depthwise;
    for (const auto& [node, v] : cg_.depthwise) depthwise.emplace(node, depthwise_layer(*node, cg_.layouts.at(v), number));
    for (const ir::Node* n : g_.topological_order()) {
      if (auto it = depthwise.find(n); it != depthwise.end()) rep.layers.push_back(std::move(it->second));
      if (auto it = producer_of_.find(n); it != producer_of_.end() && by_producer[it->second]) {
        rep.layers.push_back(std::move(*by_producer[it->second]));
      }
    }
  }

  // A depthwise Conv's row: its channels are its input's, kept as that input's groups decide.
  ChannelPruneLayer depthwise_layer(const ir::Node& n, const Layout& l, const std::vector<int>& number) {
    const std::string& weight = n.input(1)->name();
    const ir::Tensor* w = constant_tensor(g_, n.input(1));
    ChannelPruneLayer row{n.name.empty() ? weight : n.name, n.op_type(), weight, 0,
                          static_cast<int64_t>(l.atoms.size()), kept_channels(l), "", "", w ? w->numel() : 0};
    for (const Atom& a : l.atoms) {
      const auto root = static_cast<size_t>(cg_.find(a.group));
      if (row.group == 0) row.group = number[root];
      if (row.reason.empty() && row.channels_after == row.channels_before) row.reason = plans_[root].reason;
    }
    row.kind = generic_reason(row.reason);
    return row;
  }

  void apply() {
    for (const channel::SliceEdit& e : cg_.slices) {
      const Layout& l = cg_.layouts.at(e.channels);
      std::vector<int64_t> keep = kept_elements(l);
      const auto width = static_cast<int64_t>(l.atoms.size()) * l.block;
      if (static_cast<int64_t>(keep.size()) == width) continue;
      const ir::Tensor* t = constant_tensor(g_, e.node->input(e.slot));
      if (t == nullptr || e.axis >= t->rank() || t->shape()[static_cast<size_t>(e.axis)] != width) {
        throw_internal("prune-channels: input {} of '{}' does not have {} entries on axis {}", e.slot, e.node->name,
                       width, e.axis);
      }
      set_input_tensor(*e.node, e.slot, slice_axis(*t, e.axis, keep));
    }
    for (const auto& [node, v] : cg_.depthwise) {
      ir::Attribute a;
      a.name = "group";
      a.kind = ir::Attribute::Kind::kInt;
      a.i = kept_channels(cg_.layouts.at(v));
      node->set_attribute(std::move(a));
    }
    for (const channel::ReshapeEdit& e : cg_.reshapes) {
      const Layout& l = cg_.layouts.at(e.channels);
      const int64_t width = kept_channels(l) * l.block;
      if (width == static_cast<int64_t>(l.atoms.size()) * l.block) continue;
      const ir::Tensor* t = constant_tensor(g_, e.node->input(1));
      if (t == nullptr) throw_internal("prune-channels: Reshape '{}' lost its constant shape", e.node->name);
      ir::Tensor shape(t->dtype(), t->shape());
      std::memcpy(shape.mutable_bytes().data(), t->bytes().data(), t->storage_bytes());
      if (t->dtype() == ir::DType::kInt64) shape.mutable_values<int64_t>()[1] = width;
      else shape.mutable_values<int32_t>()[1] = static_cast<int32_t>(width);
      set_input_tensor(*e.node, 1, std::move(shape));
    }
    for (const auto& [v, l] : cg_.layouts) {
      ir::Value* mv = const_cast<ir::Value*>(v);
      if (!mv->type || mv->type->kind != ir::TypeInfo::Kind::kTensor || !mv->type->shape) continue;
      std::vector<ir::Dim>& dims = *mv->type->shape;
      const auto ax = static_cast<size_t>(l.axis);
      if (dims.size() > ax && dims[ax].value) dims[ax].value = kept_channels(l) * l.block;
    }
    cleanup();
  }

 private:
  void decide(GroupPlan& p) {
    p.channels = cg_.producers[static_cast<size_t>(p.members.front())].channels;
    p.kept = p.channels;
    std::optional<double> override_ratio;
    for (int32_t m : p.members) {
      const ir::Node* n = cg_.producers[static_cast<size_t>(m)].node;
      if (n == nullptr) continue;
      const std::string& weight = n->input(1)->name();
      if (p.reason.empty() && any_glob_matches(o_.skip, {n->name, weight})) {
        p.reason = fmt::format("kept whole by --skip ('{}')", n->name.empty() ? weight : n->name);
      }
      for (const std::string& key : {n->name, weight}) {
        auto it = o_.overrides.find(key);
        if (it != o_.overrides.end()) override_ratio = std::min(override_ratio.value_or(1.0), it->second);
      }
    }
    p.ratio = override_ratio.value_or(o_.ratio);
    if (!p.reason.empty() || p.ratio <= 0) return;
    const auto removed = static_cast<int64_t>(std::floor(p.ratio * static_cast<double>(p.channels) + 1e-9));
    int64_t keep = p.channels - removed;
    keep = round_kept_channels(keep, p.channels, o_.round_to);
    if (keep == p.channels) return;

    std::vector<double> score(static_cast<size_t>(p.channels), 0.0);
    for (int32_t m : p.members) {
      const channel::Producer& pr = cg_.producers[static_cast<size_t>(m)];
      add_l1(*constant_tensor(g_, pr.node->input(1)), pr.weight_axis, score);
    }
    std::vector<int64_t> order(score.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return score[static_cast<size_t>(a)] < score[static_cast<size_t>(b)];
    });
    p.keep.assign(score.size(), 1);
    for (int64_t i = 0; i < p.channels - keep; ++i) p.keep[static_cast<size_t>(order[static_cast<size_t>(i)])] = 0;
    p.kept = keep;
  }

  bool kept(const Atom& a) {
    const GroupPlan& p = plans_[static_cast<size_t>(cg_.find(a.group))];
    return p.keep.empty() || p.keep[static_cast<size_t>(a.index)] != 0;
  }
  int64_t kept_channels(const Layout& l) {
    int64_t n = 0;
    for (const Atom& a : l.atoms) n += kept(a) ? 1 : 0;
    return n;
  }
  std::vector<int64_t> kept_elements(const Layout& l) {
    std::vector<int64_t> out;
    for (size_t j = 0; j < l.atoms.size(); ++j) {
      if (!kept(l.atoms[j])) continue;
      for (int64_t b = 0; b < l.block; ++b) out.push_back(static_cast<int64_t>(j) * l.block + b);
    }
    return out;
  }

  // Gives input `slot` of `node` the tensor `t`: in place when only this node reads the
  // initializer, else through a new initializer (the old value keeps serving its other readers).
  void set_input_tensor(ir::Node& node, size_t slot, ir::Tensor t) {
    ir::Value* v = node.input(slot);
    const bool listed = std::count(g_.inputs.begin(), g_.inputs.end(), v) || std::count(g_.outputs.begin(), g_.outputs.end(), v);
    if (v->initializer && v->uses().size() == 1 && !listed) {
      if (v->type) v->type = ir::TypeInfo::tensor(t.dtype(), t.shape());
      v->initializer = std::move(t);
      return;
    }
    ir::Value* copy = g_.add_initializer(g_.unique_name(v->name() + "_pruned"), std::move(t));
    node.set_input(slot, copy);
    detached_.push_back(v);
  }

  // Drops the initializers and Constant nodes that edits left unread.
  void cleanup() {
    for (ir::Value* v : detached_) {
      if (!v->uses().empty() || std::count(g_.outputs.begin(), g_.outputs.end(), v)) continue;
      if (v->initializer) {
        if (std::count(g_.inputs.begin(), g_.inputs.end(), v)) continue;
        std::erase(g_.initializers, v);
      } else if (v->producer() != nullptr && v->producer()->op_type() == "Constant") {
        g_.remove_node(v->producer());
      }
    }
    g_.remove_unused_values();
  }

  ir::Graph& g_;
  ChannelGraph& cg_;
  const ChannelPruneOptions& o_;
  std::vector<GroupPlan> plans_;
  std::map<const ir::Node*, size_t> producer_of_;  ///< producer node -> raw group id
  std::vector<ir::Value*> detached_;
};

// The q/k/v projections whose heads were cut: their rows show the channels before the cut.
void note_heads(const HeadPruneReport& heads, ChannelPruneReport& rep) {
  for (const HeadPruneResult& h : heads.blocks) {
    const std::string& name = h.in_proj->name.empty() ? h.in_proj->input(1)->name() : h.in_proj->name;
    for (ChannelPruneLayer& l : rep.layers) {
      if (l.name != name) continue;
      l.channels_before = 3 * h.heads_before * h.head_dim;
      l.reason = fmt::format("attention heads {} -> {}", h.heads_before, h.heads_after);
      l.kind.clear();
      l.weight_elements = h.weight_elements;
      l.weight = h.weight;
      ++rep.groups_pruned;
    }
  }
  for (const ir::Node* n : heads.skipped) {
    const std::string& name = n->name.empty() ? n->input(1)->name() : n->name;
    for (ChannelPruneLayer& l : rep.layers) {
      if (l.name != name || l.channels_after < l.channels_before) continue;
      l.reason = fmt::format("kept whole by --skip ('{}')", name);
      l.kind = generic_reason(l.reason);
    }
  }
}

void check_options(const ChannelPruneOptions& o) {
  auto ratio_ok = [](double r) { return r >= 0 && r < 1; };
  if (!ratio_ok(o.ratio)) throw_bad_input("prune-channels: ratio {} is not in [0, 1)", o.ratio);
  for (const auto& [name, r] : o.overrides) {
    if (!ratio_ok(r)) throw_bad_input("prune-channels: ratio {} for '{}' is not in [0, 1)", r, name);
  }
  if (o.round_to < 0) throw_bad_input("prune-channels: round_to {} must be at least 1 (or 0: auto)", o.round_to);
}

}  // namespace

std::string ChannelPruneReport::summary() const {
  return fmt::format("prune-channels: {} of {} channel group{} pruned; parameters {} -> {}; MACs {} -> {}",
                     groups_pruned, groups, groups == 1 ? "" : "s", human(params_before), human(params_after),
                     macs_before ? human(*macs_before) : "unknown", macs_after ? human(*macs_after) : "unknown");
}

int64_t round_kept_channels(int64_t keep, int64_t channels, int64_t round_to) {
  int64_t multiple = round_to;
  if (multiple == ChannelPruneOptions::kRoundAuto) multiple = keep >= 32 ? 8 : 1;
  keep = std::min(channels, (keep + multiple - 1) / multiple * multiple);
  return std::max<int64_t>(keep, 1);
}

ChannelPruneReport prune_channels(ir::Model& model, const ChannelPruneOptions& options) {
  check_options(options);
  ir::Graph& g = *model.graph;
  ChannelPruneReport rep;
  rep.params_before = ir::compute_model_stats(g).parameters;
  rep.macs_before = kernels::model_macs(model).macs;

  // The walk needs shapes; the types inference adds are taken back, so the model records what it did.
  TypeSnapshot recorded = snapshot_types(g);
  kernels::ShapeInferenceOptions lenient;
  lenient.strict = false;
  const size_t conflicts_before = kernels::infer_shapes(model, lenient).conflicts.size();
  // Attention heads first (their own pattern); the walk then sees the cut projections.
  const HeadPruneReport heads = prune_attention_heads(model, options);
  if (!heads.blocks.empty()) {  // infer again, from what the model recorded, without the cut values' shapes
    TypeSnapshot before_heads = recorded;
    restore_types(before_heads);
    for (ir::Value* v : heads.reshaped) v->type.reset();
    kernels::infer_shapes(model, lenient);
  }
  ChannelGraph cg = channel::analyze_channels(model);
  std::vector<std::pair<ir::Value*, std::optional<ir::TypeInfo>>> reshaped;
  for (ir::Value* v : heads.reshaped) reshaped.emplace_back(v, v->type);
  restore_types(recorded);
  for (auto& [v, t] : reshaped) {
    if (v->type) v->type = std::move(t);  // a recorded type follows the cut
  }
  for (ir::Value* v : heads.detached) std::erase(g.initializers, v);

  Pruner pruner(model, cg, options);
  pruner.plan(rep);
  note_heads(heads, rep);
  pruner.apply();

  // Self-check: the pruned graph must still infer without new conflicts and verify.
  TypeSnapshot pruned = snapshot_types(g);
  try {
    const size_t conflicts_after = kernels::infer_shapes(model, lenient).conflicts.size();
    if (conflicts_after > conflicts_before) throw_internal("{} new shape conflicts", conflicts_after - conflicts_before);
  } catch (const Error& e) {
    throw_internal("prune-channels produced an inconsistent graph: {}", e.what());
  }
  restore_types(pruned);
  rep.macs_after = kernels::model_macs(model).macs;
  if (ir::VerifyReport vr = ir::verify(model); !vr.ok()) {
    throw_internal("prune-channels produced a graph that does not verify:\n{}", vr.summary());
  }
  rep.params_after = ir::compute_model_stats(g).parameters;
  return rep;
}

std::string ChannelPrune::options_text() const {
  ChannelPruneOptions o = options_;
  std::string round_to = o.round_to == ChannelPruneOptions::kRoundAuto ? "auto" : std::to_string(o.round_to);
  std::vector<std::string> layer_sparsity;
  for (const auto& [name, r] : o.overrides) layer_sparsity.push_back(fmt::format("{}={}", name, r));
  return OptionFields().add("sparsity", o.ratio).add("round-to", round_to).add("layer-sparsity", layer_sparsity)
      .add("skip", o.skip).print();
}

std::string ChannelPrune::run(ir::Model& model) {
  report_ = prune_channels(model, options_);
  return report_.summary();
}

}  // namespace scalec::passes
