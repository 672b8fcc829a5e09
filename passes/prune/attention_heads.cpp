#include "passes/prune/attention_heads.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "ir/error.h"
#include "ir/node_attrs.h"
#include "passes/core/constant.h"
#include "passes/core/name_match.h"

namespace scalec::passes {

namespace {

// Static dims of a value's inferred type (-1 unknown); nullopt without a rank.
std::optional<std::vector<int64_t>> dims_of(const ir::Value* v) {
  if (v == nullptr || !v->type || v->type->kind != ir::TypeInfo::Kind::kTensor || !v->type->shape) return std::nullopt;
  std::vector<int64_t> d;
  for (const ir::Dim& x : *v->type->shape) d.push_back(x.value ? *x.value : -1);
  return d;
}

// The integers of a constant int tensor; nullopt otherwise.
std::optional<std::vector<int64_t>> ints(const ir::Graph& g, const ir::Value* v) {
  const ir::Tensor* t = v ? constant_tensor(g, v) : nullptr;
  if (t == nullptr || (t->dtype() != ir::DType::kInt64 && t->dtype() != ir::DType::kInt32)) return std::nullopt;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < t->numel(); ++i) out.push_back(static_cast<int64_t>(t->element_as_double(i)));
  return out;
}

const ir::Node* only_use(const ir::Value* v, const ir::Graph& g) {
  if (v == nullptr || v->uses().size() != 1 || std::count(g.outputs.begin(), g.outputs.end(), v)) return nullptr;
  return v->uses()[0].node;
}

// `t` with only the entries `keep` of `axis` (rank <= 2 weights and biases).
ir::Tensor gather_axis(const ir::Tensor& t, int64_t axis, const std::vector<int64_t>& keep) {
  const auto es = static_cast<size_t>(ir::dtype_bits(t.dtype()) / 8);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < t.rank(); ++i) {
    if (i < axis) outer *= t.shape()[static_cast<size_t>(i)];
    if (i > axis) inner *= t.shape()[static_cast<size_t>(i)];
  }
  const int64_t dim = t.shape()[static_cast<size_t>(axis)];
  std::vector<int64_t> shape = t.shape();
  shape[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
  ir::Tensor out(t.dtype(), shape);
  const std::byte* src = t.bytes().data();
  std::byte* dst = out.mutable_bytes().data();
  const size_t row = static_cast<size_t>(inner) * es;
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t k = 0; k < keep.size(); ++k) {
      std::memcpy(dst + (static_cast<size_t>(o) * keep.size() + k) * row, src + static_cast<size_t>(o * dim + keep[k]) * row, row);
    }
  }
  return out;
}

// Shape arithmetic (Shape, Gather, Concat, Unsqueeze, +-*/ of ints) evaluated from the inferred
// dims: the exporter computes Slice bounds and Reshape targets at run time from the input's Shape.
// `last_dim` overrides the last dim of one value (the q/k/v output after a cut). Unknown: nullopt.
using Ints = std::vector<std::optional<int64_t>>;

std::optional<Ints> eval_ints(const ir::Graph& g, const ir::Value* v, const std::pair<const ir::Value*, int64_t>& last_dim,
                              int depth = 0) {
  if (v == nullptr || depth > 24) return std::nullopt;
  if (auto c = ints(g, v)) return Ints(c->begin(), c->end());
  const ir::Node* n = v->producer();
  if (n == nullptr || !n->domain().empty() || v != n->output(0)) return std::nullopt;
  const std::string& op = n->op_type();
  auto in = [&](size_t i) { return i < n->inputs().size() ? eval_ints(g, n->input(i), last_dim, depth + 1) : std::nullopt; };
  if (op == "Shape") {
    auto d = dims_of(n->input(0));
    if (!d || n->attribute("start") || n->attribute("end")) return std::nullopt;
    if (n->input(0) == last_dim.first && !d->empty()) d->back() = last_dim.second;
    Ints out;
    for (int64_t x : *d) out.push_back(x >= 0 ? std::optional<int64_t>(x) : std::nullopt);
    return out;
  }
  if (op == "Unsqueeze" || op == "Squeeze" || op == "Cast" || op == "Identity") return in(0);
  if (op == "Gather" && ir::int_attr(*n, "axis", 0) == 0) {
    auto data = in(0);
    auto idx = in(1);
    if (!data || !idx) return std::nullopt;
    Ints out;
    for (const auto& i : *idx) {
      if (!i) return std::nullopt;
      const int64_t k = *i < 0 ? *i + static_cast<int64_t>(data->size()) : *i;
      if (k < 0 || k >= static_cast<int64_t>(data->size())) return std::nullopt;
      out.push_back((*data)[static_cast<size_t>(k)]);
    }
    return out;
  }
  if (op == "Concat") {
    Ints out;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      auto part = in(i);
      if (!part) return std::nullopt;
      out.insert(out.end(), part->begin(), part->end());
    }
    return out;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    auto a = in(0);
    auto b = in(1);
    if (!a || !b || (a->size() != b->size() && a->size() != 1 && b->size() != 1)) return std::nullopt;
    Ints out(std::max(a->size(), b->size()));
    for (size_t i = 0; i < out.size(); ++i) {
      const auto& x = (*a)[a->size() == 1 ? 0 : i];
      const auto& y = (*b)[b->size() == 1 ? 0 : i];
      if (!x || !y || (op == "Div" && *y == 0)) continue;
      out[i] = op == "Add" ? *x + *y : op == "Sub" ? *x - *y : op == "Mul" ? *x * *y : *x / *y;
    }
    return out;
  }
  return std::nullopt;
}

// The single known integer `v` evaluates to.
std::optional<int64_t> eval_one(const ir::Graph& g, const ir::Value* v, const std::pair<const ir::Value*, int64_t>& last_dim) {
  auto r = eval_ints(g, v, last_dim);
  return r && r->size() == 1 ? (*r)[0] : std::nullopt;
}

// One matched attention block.
struct Block {
  ir::Node* in_proj = nullptr;   // MatMul x @ W_in
  const ir::Value* qkv = nullptr;  // its output after the bias
  std::vector<ir::Node*> slices;   // q, k, v
  ir::Node* bias_add = nullptr;  // Add of b_in (may be null)
  size_t bias_slot = 0;
  ir::Node* heads_mul = nullptr;  // Mul(B, H) feeding the head Reshapes
  size_t heads_slot = 0;
  ir::Node* merge_concat = nullptr;  // Concat giving the last Reshape its [T*B, D]
  ir::Node* out_proj = nullptr;      // Gemm or MatMul reading the merged heads
  int64_t out_axis = 0;              // W_out's axis over the merged heads
  int64_t width = 0, heads = 0, head_dim = 0;
  std::vector<ir::Value*> values;    // values whose shape changes
};

bool thirds(const ir::Graph& g, const Block& b, int64_t w);

class Matcher {
 public:
  explicit Matcher(ir::Graph& g) : g_(g) {}

  std::optional<Block> match(ir::Node& mm) {
    Block b;
    b.in_proj = &mm;
    const ir::Tensor* w = constant_tensor(g_, mm.input(1));
    if (w == nullptr || !ir::dtype_is_float(w->dtype()) || w->rank() != 2 || w->shape()[1] % 3 != 0) return std::nullopt;
    b.width = w->shape()[1] / 3;
    ir::Value* qkv = mm.output(0);
    b.values.push_back(qkv);
    // An Add of a constant [3D] bias, if the next op is one.
    if (const ir::Node* add = only_use(qkv, g_); add != nullptr && add->op_type() == "Add") {
      const size_t other = add->input(0) == qkv ? 1 : 0;
      const ir::Tensor* bias = constant_tensor(g_, add->input(other));
      if (bias == nullptr || bias->rank() != 1 || bias->shape()[0] != 3 * b.width) return std::nullopt;
      b.bias_add = const_cast<ir::Node*>(add);
      b.bias_slot = other;
      qkv = add->output(0);
      b.values.push_back(qkv);
    }
    auto qs = dims_of(qkv);
    if (!qs || qs->size() != 3 || std::count(g_.outputs.begin(), g_.outputs.end(), qkv)) return std::nullopt;
    b.qkv = qkv;
    // Three Slices of the last axis, q from 0, k from q's end, v from k's end; Shapes may read it.
    std::vector<ir::Node*> slices;
    for (const ir::Use& u : qkv->uses()) {
      if (u.node->op_type() == "Slice" && u.input_index == 0) slices.push_back(u.node);
      else if (u.node->op_type() != "Shape") return std::nullopt;
    }
    if (slices.size() != 3) return std::nullopt;
    std::vector<ir::Node*> ordered;
    const ir::Value* start_of_next = nullptr;
    for (int part = 0; part < 3; ++part) {
      auto it = std::find_if(slices.begin(), slices.end(), [&](ir::Node* s) {
        if (part == 0) {
          auto st = ints(g_, s->input(1));
          return st && st->size() == 1 && (*st)[0] == 0;
        }
        return s->input(1) == start_of_next;
      });
      if (it == slices.end()) return std::nullopt;
      ir::Node* s = *it;
      auto axes = ints(g_, s->inputs().size() > 3 ? s->input(3) : nullptr);
      if (!axes || axes->size() != 1 || ((*axes)[0] != -1 && (*axes)[0] != 2)) return std::nullopt;
      if (s->inputs().size() > 4 && s->input(4) != nullptr) return std::nullopt;  // steps
      start_of_next = s->input(2);
      ordered.push_back(s);
    }
    b.slices = ordered;
    if (!thirds(g_, b, b.width)) return std::nullopt;
    // Each part: Reshape to [T, B*H, d] whose B*H comes from Mul(B, constant H).
    std::unordered_set<const ir::Value*> region;
    std::unordered_set<const ir::Node*> targets;  // the head Reshapes' shape Concats
    for (ir::Node* s : ordered) {
      b.values.push_back(s->output(0));
      const ir::Node* reshape = nullptr;
      for (const ir::Use& u : s->output(0)->uses()) {
        if (u.node->op_type() == "Reshape" && u.input_index == 0 && reshape == nullptr) reshape = u.node;
        else if (u.node->op_type() != "Shape") return std::nullopt;
      }
      if (reshape == nullptr || !head_reshape(*reshape, b)) return std::nullopt;
      targets.insert(reshape->input(1)->producer());
      region.insert(reshape->output(0));
      b.values.push_back(reshape->output(0));
    }
    // The head count H is changed in place: only these Reshape targets may read B*H.
    for (const ir::Use& u : b.heads_mul->output(0)->uses()) {
      if (u.node->op_type() != "Unsqueeze" || u.node->output(0) == nullptr) return std::nullopt;
      for (const ir::Use& reader : u.node->output(0)->uses()) {
        if (!targets.count(reader.node)) return std::nullopt;
      }
    }
    return follow_heads(region, b) ? std::optional<Block>(b) : std::nullopt;
  }

 private:
  // A Reshape of a [T, B, D] part to [T, B*H, d] whose target's entry 1 is Unsqueeze(Mul(., H)).
  bool head_reshape(const ir::Node& r, Block& b) {
    auto target = eval_ints(g_, r.input(1), {nullptr, 0});
    if (!target || target->size() != 3 || !(*target)[2] || *(*target)[2] <= 0) return false;
    const int64_t d = *(*target)[2];
    const ir::Node* cat = r.input(1)->producer();
    if (cat == nullptr || cat->op_type() != "Concat" || cat->inputs().size() != 3) return false;
    const ir::Node* unsq = cat->input(1)->producer();
    if (unsq == nullptr || unsq->op_type() != "Unsqueeze") return false;
    ir::Node* mul = unsq->input(0)->producer();
    if (mul == nullptr || mul->op_type() != "Mul") return false;
    for (size_t slot = 0; slot < 2; ++slot) {
      auto h = ints(g_, mul->input(slot));
      if (!h || h->size() != 1 || (*h)[0] * d != b.width) continue;
      if ((b.heads_mul != nullptr && b.heads_mul != mul) || (b.head_dim != 0 && b.head_dim != d)) return false;
      b.heads_mul = mul;
      b.heads_slot = slot;
      b.heads = (*h)[0];
      b.head_dim = d;
      return true;
    }
    return false;
  }

  // Where a per-head value of rank 3 keeps its B*H axis and its within-head feature axis (the d
  // entries of a head; -1 once a MatMul summed them, as in the scores q k^T).
  struct HeadAxes {
    int64_t heads = 1;
    int64_t feature = 2;
  };

  // Walks from the head Reshapes ([T, B*H, d]) through per-head ops to the Reshape that merges heads
  // again and the projection that reads it. Every op must keep the B*H rows apart: Transpose moves
  // the axes, batched MatMuls run over B*H on axis 0 (q k^T sums within a head, p v keeps v's d),
  // Softmax works on another axis, scalars scale; any other reader of a value leaves it alone.
  bool follow_heads(const std::unordered_set<const ir::Value*>& starts, Block& b) {
    std::unordered_map<const ir::Value*, HeadAxes> axes;
    std::vector<const ir::Value*> todo(starts.begin(), starts.end());
    for (const ir::Value* v : starts) axes[v] = HeadAxes{};
    const ir::Node* merge = nullptr;
    std::unordered_set<const ir::Node*> seen, pending;
    while (!todo.empty()) {
      const ir::Value* v = todo.back();
      todo.pop_back();
      if (std::count(g_.outputs.begin(), g_.outputs.end(), v)) return false;
      for (const ir::Use& u : v->uses()) {
        const ir::Node* n = u.node;
        if (!seen.insert(n).second) continue;
        const std::string& op = n->op_type();
        const HeadAxes in = axes.at(v);
        HeadAxes out = in;
        if (op == "Reshape" && u.input_index == 0) {
          if (merge != nullptr || in.heads != 1 || in.feature != 2) return false;  // [T, B*H, d] -> [T*B, H*d]
          merge = n;
          continue;
        }
        if (op == "MatMul") {
          auto a = axes.find(n->input(0));
          auto c = axes.find(n->input(1));
          if (a == axes.end() || c == axes.end()) {
            seen.erase(n);  // visited again once the other operand is reached
            pending.insert(n);
            continue;
          }
          pending.erase(n);
          if (a->second.heads != 0 || c->second.heads != 0) return false;
          if (a->second.feature == 2 && c->second.feature == 1) out = {0, -1};       // q k^T
          else if (a->second.feature == -1 && c->second.feature == 2) out = {0, 2};  // p v
          else return false;
        } else if (op == "Transpose") {
          const ir::Attribute* perm = n->attribute("perm");
          if (perm == nullptr || perm->ints.size() != 3) return false;
          const auto& p = perm->ints;
          auto moved = [&](int64_t axis) {
            return axis < 0 ? axis : static_cast<int64_t>(std::find(p.begin(), p.end(), axis) - p.begin());
          };
          out = {moved(in.heads), moved(in.feature)};
        } else if (op == "Softmax" || op == "LogSoftmax") {
          const ir::Attribute* a = n->attribute("axis");
          const int64_t axis = a == nullptr ? -2 : (a->i < 0 ? a->i + 3 : a->i);  // -2: not written, refused
          if (axis != 2 || in.heads == 2 || in.feature == 2) return false;
        } else if (op == "Div" || op == "Mul") {
          const ir::Tensor* c = constant_tensor(g_, n->input(u.input_index == 0 ? 1 : 0));
          if (c == nullptr || c->numel() != 1 || (op == "Div" && u.input_index != 0)) return false;
        } else if (op == "Dropout") {
          if (n->outputs().size() > 1 && n->output(1) != nullptr && !n->output(1)->uses().empty()) return false;
        } else if (op != "Cast") {
          return false;
        }
        if (n->output(0) == nullptr) return false;
        axes[n->output(0)] = out;
        b.values.push_back(n->output(0));
        todo.push_back(n->output(0));
      }
    }
    return merge != nullptr && pending.empty() && merge_reshape(*merge, b);
  }

  // The Reshape back to [T*B, D] (target Concat whose last entry is D) and the projection after it.
  bool merge_reshape(const ir::Node& r, Block& b) {
    auto target = eval_ints(g_, r.input(1), {nullptr, 0});
    if (!target || target->size() != 2 || (*target)[1] != b.width) return false;
    ir::Node* cat = r.input(1)->producer();
    if (cat == nullptr || cat->op_type() != "Concat" || cat->inputs().size() != 2) return false;
    b.merge_concat = cat;
    b.values.push_back(r.output(0));
    const ir::Node* proj = only_use(r.output(0), g_);
    if (proj == nullptr || proj->input(0) != r.output(0)) return false;
    const ir::Tensor* w = constant_tensor(g_, proj->input(1));
    if (w == nullptr || w->rank() != 2) return false;
    if (proj->op_type() == "Gemm" && ir::int_attr(*proj, "transA", 0) == 0) {
      b.out_axis = ir::int_attr(*proj, "transB", 0) != 0 ? 1 : 0;
    } else if (proj->op_type() == "MatMul") {
      b.out_axis = 0;
    } else {
      return false;
    }
    if (w->shape()[static_cast<size_t>(b.out_axis)] != b.width) return false;
    b.out_proj = const_cast<ir::Node*>(proj);
    return true;
  }

  ir::Graph& g_;
};

// True when the q, k, v Slices take [0, w), [w, 2w), [2w, 3w) of the block's output when its last
// dim is 3w (the exporter computes the bounds from that dim at run time).
bool thirds(const ir::Graph& g, const Block& b, int64_t w) {
  const std::pair<const ir::Value*, int64_t> dim{b.qkv, 3 * w};
  for (size_t p = 0; p < b.slices.size(); ++p) {
    auto start = eval_one(g, b.slices[p]->input(1), dim);
    auto end = eval_one(g, b.slices[p]->input(2), dim);
    const auto part = static_cast<int64_t>(p);
    if (!start || !end || *start != part * w || (p < 2 ? *end != (part + 1) * w : *end < 3 * w)) return false;
  }
  return true;
}

class HeadCutter {
 public:
  HeadCutter(ir::Graph& g, HeadPruneReport& rep) : g_(g), rep_(rep) {}

  // Keeps the heads `keep` (sorted) of block `b`.
  void cut(const Block& b, const std::vector<int64_t>& keep) {
    const int64_t d = b.head_dim;
    std::vector<int64_t> in_cols, out_cols;
    for (int64_t part = 0; part < 3; ++part) {
      for (int64_t h : keep) {
        for (int64_t i = 0; i < d; ++i) in_cols.push_back(part * b.width + h * d + i);
      }
    }
    for (int64_t h : keep) {
      for (int64_t i = 0; i < d; ++i) out_cols.push_back(h * d + i);
    }
    set_input(*b.in_proj, 1, gather_axis(*constant_tensor(g_, b.in_proj->input(1)), 1, in_cols));
    if (b.bias_add != nullptr) set_input(*b.bias_add, b.bias_slot, gather_axis(*constant_tensor(g_, b.bias_add->input(b.bias_slot)), 0, in_cols));
    set_input(*b.out_proj, 1, gather_axis(*constant_tensor(g_, b.out_proj->input(1)), b.out_axis, out_cols));
    const auto h = static_cast<int64_t>(keep.size());
    const ir::Tensor* hc = constant_tensor(g_, b.heads_mul->input(b.heads_slot));
    set_input(*b.heads_mul, b.heads_slot, int_tensor(hc->dtype(), hc->shape(), h));
    const ir::Value* last = b.merge_concat->input(1);
    const ir::Tensor* lc = constant_tensor(g_, last);
    const ir::DType dt = lc != nullptr ? lc->dtype() : ir::DType::kInt64;
    set_input(*b.merge_concat, 1, int_tensor(dt, {1}, h * d));
    rep_.reshaped.insert(b.values.begin(), b.values.end());
  }

 private:
  static ir::Tensor int_tensor(ir::DType dt, const std::vector<int64_t>& shape, int64_t value) {
    ir::Tensor t(dt, shape);
    if (dt == ir::DType::kInt32) t.mutable_values<int32_t>()[0] = static_cast<int32_t>(value);
    else t.mutable_values<int64_t>()[0] = value;
    return t;
  }

  // Input `slot` of `node` reads `t`: in place when only this node reads the initializer, else from
  // a new initializer (the old one is detached once unread).
  void set_input(ir::Node& node, size_t slot, ir::Tensor t) {
    ir::Value* old = node.input(slot);
    const bool listed = std::count(g_.inputs.begin(), g_.inputs.end(), old) || std::count(g_.outputs.begin(), g_.outputs.end(), old);
    if (old->initializer && old->uses().size() == 1 && !listed) {
      if (old->type) old->type = ir::TypeInfo::tensor(t.dtype(), t.shape());
      old->initializer = std::move(t);
      return;
    }
    ir::Value* v = g_.add_initializer(g_.unique_name(old->name() + "_heads"), std::move(t));
    node.set_input(slot, v);
    if (old->uses().empty() && old->is_initializer() && !std::count(g_.inputs.begin(), g_.inputs.end(), old) &&
        !std::count(g_.outputs.begin(), g_.outputs.end(), old)) {
      rep_.detached.push_back(old);
    }
  }

  ir::Graph& g_;
  HeadPruneReport& rep_;
};

// L1 of head h's columns of q, k, v in W_in and of its input columns in W_out.
std::vector<double> head_scores(const ir::Graph& g, const Block& b) {
  std::vector<double> score(static_cast<size_t>(b.heads), 0.0);
  const ir::Tensor& win = *constant_tensor(g, b.in_proj->input(1));
  const ir::Tensor& wout = *constant_tensor(g, b.out_proj->input(1));
  const int64_t rows = win.shape()[0], cols = win.shape()[1];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      score[static_cast<size_t>((c % b.width) / b.head_dim)] += std::fabs(win.element_as_double(r * cols + c));
    }
  }
  const int64_t o0 = wout.shape()[0], o1 = wout.shape()[1];
  for (int64_t r = 0; r < o0; ++r) {
    for (int64_t c = 0; c < o1; ++c) {
      const int64_t j = b.out_axis == 0 ? r : c;
      score[static_cast<size_t>(j / b.head_dim)] += std::fabs(wout.element_as_double(r * o1 + c));
    }
  }
  return score;
}

}  // namespace

HeadPruneReport prune_attention_heads(ir::Model& model, const ChannelPruneOptions& o) {
  ir::Graph& g = *model.graph;
  HeadPruneReport rep;
  Matcher matcher(g);
  HeadCutter cutter(g, rep);
  for (ir::Node* n : g.topological_order()) {
    if (n->op_type() != "MatMul" || !n->domain().empty()) continue;
    std::optional<Block> b = matcher.match(*n);
    if (!b) continue;
    const std::string weight = n->input(1)->name();
    if (any_glob_matches(o.skip, {n->name, weight})) {
      rep.skipped.push_back(n);
      continue;
    }
    double ratio = o.ratio;
    for (const std::string& key : {n->name, weight}) {
      if (auto it = o.overrides.find(key); it != o.overrides.end()) ratio = std::min(ratio, it->second);
    }
    const auto removed = static_cast<int64_t>(std::floor(ratio * static_cast<double>(b->heads) + 1e-9));
    const int64_t kept = std::max<int64_t>(1, b->heads - removed);
    if (kept == b->heads || !thirds(g, *b, kept * b->head_dim)) continue;
    const std::vector<double> score = head_scores(g, *b);
    std::vector<int64_t> order(score.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      return score[static_cast<size_t>(x)] > score[static_cast<size_t>(y)];
    });
    std::vector<int64_t> keep(order.begin(), order.begin() + kept);
    std::sort(keep.begin(), keep.end());
    const int64_t elements = constant_tensor(g, n->input(1))->numel();
    cutter.cut(*b, keep);
    rep.blocks.push_back({n, weight, b->heads, kept, b->head_dim, elements});
  }
  return rep;
}

}  // namespace scalec::passes
