#include "passes/prune/magnitude_prune.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "ir/error.h"
#include "passes/core/name_match.h"
#include "passes/core/pass_options.h"
#include "passes/prune/prunable.h"
#include "passes/prune/prune_coverage.h"

namespace scalec::passes {

namespace {

std::vector<double> magnitudes(const ir::Tensor& w) {
  std::vector<double> a(static_cast<size_t>(w.numel()));
  if (w.dtype() == ir::DType::kFloat) {
    auto v = w.values<float>();
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::fabs(static_cast<double>(v[i]));
  } else {
    auto v = w.values<double>();
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::fabs(v[i]);
  }
  return a;
}

int64_t count_zeros(const ir::Tensor& w) {
  int64_t z = 0;
  for (int64_t i = 0; i < w.numel(); ++i) z += w.element_as_double(i) == 0.0;
  return z;
}

ir::Tensor ones_like(const ir::Tensor& w) {
  ir::Tensor m(w.dtype(), w.shape());
  if (w.dtype() == ir::DType::kFloat) {
    std::fill(m.mutable_values<float>().begin(), m.mutable_values<float>().end(), 1.0f);
  } else {
    std::fill(m.mutable_values<double>().begin(), m.mutable_values<double>().end(), 1.0);
  }
  return m;
}

void zero_at(ir::Tensor& mask, size_t i) {
  if (mask.dtype() == ir::DType::kFloat) {
    mask.mutable_values<float>()[i] = 0.0f;
  } else {
    mask.mutable_values<double>()[i] = 0.0;
  }
}

// Zeroes the k entries of smallest magnitude; ties go to the lower index, so masks are deterministic.
void mask_smallest(const std::vector<double>& mag, int64_t k, ir::Tensor& mask) {
  std::vector<size_t> idx(mag.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  auto less = [&](size_t a, size_t b) { return mag[a] < mag[b] || (mag[a] == mag[b] && a < b); };
  const auto kk = static_cast<std::ptrdiff_t>(std::clamp<int64_t>(k, 0, static_cast<int64_t>(idx.size())));
  if (kk > 0 && kk < static_cast<std::ptrdiff_t>(idx.size())) std::nth_element(idx.begin(), idx.begin() + kk, idx.end(), less);
  for (std::ptrdiff_t i = 0; i < kk; ++i) zero_at(mask, idx[static_cast<size_t>(i)]);
}

// mask_smallest within each block of `rows` consecutive rows of a [D, G*H, C] recurrent weight (one
// gate of one direction), each block at `sparsity`: a gate whose weights are smaller than the
// others' keeps its share instead of being emptied.
void mask_smallest_per_block(const std::vector<double>& mag, int64_t rows, int64_t cols, double sparsity, ir::Tensor& mask) {
  const int64_t block = rows * cols;
  const int64_t k = std::llround(sparsity * static_cast<double>(block));
  ir::Tensor part(mask.dtype(), {block});
  for (int64_t start = 0; start + block <= static_cast<int64_t>(mag.size()); start += block) {
    const std::vector<double> sub(mag.begin() + start, mag.begin() + start + block);
    ir::Tensor m = ones_like(part);
    mask_smallest(sub, k, m);
    for (int64_t i = 0; i < block; ++i) {
      if (m.element_as_double(i) == 0.0) zero_at(mask, static_cast<size_t>(start + i));
    }
  }
}

// Keeps the n largest of every m consecutive entries along `axis`; false when the axis length is not a multiple of m.
bool mask_n_m(const std::vector<double>& mag, const std::vector<int64_t>& shape, int64_t axis, int n, int m, ir::Tensor& mask) {
  const int64_t len = shape[static_cast<size_t>(axis)];
  if (len % m != 0) return false;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  std::vector<size_t> group(static_cast<size_t>(m));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t g = 0; g < len; g += m) {
        for (int j = 0; j < m; ++j) group[static_cast<size_t>(j)] = static_cast<size_t>((o * len + g + j) * inner + i);
        // Largest first; ties keep the lower index.
        std::stable_sort(group.begin(), group.end(), [&](size_t a, size_t b) { return mag[a] > mag[b]; });
        for (size_t j = static_cast<size_t>(n); j < group.size(); ++j) zero_at(mask, group[j]);
      }
    }
  }
  return true;
}

const double* override_for(const MagnitudePruneOptions& o, const PrunableWeight& p) {
  for (const std::string& key : {p.layer, p.weight->name()}) {
    auto it = o.overrides.find(key);
    if (it != o.overrides.end()) return &it->second;
  }
  return nullptr;
}

void check_names(const MagnitudePruneOptions& o, const std::vector<PrunableWeight>& ws) {
  auto layer_list = [&] {
    std::string s;
    for (const PrunableWeight& p : ws) s += (s.empty() ? "" : ", ") + p.layer;
    return s;
  };
  for (const auto& [layer_name, s] : o.overrides) {
    const std::string& name = layer_name;  // clang 14 cannot capture a structured binding
    if (!(s >= 0 && s < 1)) throw_bad_input("sparsity for '{}' must be in [0, 1), got {}", name, s);
    bool found = std::any_of(ws.begin(), ws.end(), [&](const PrunableWeight& p) { return p.layer == name || p.weight->name() == name; });
    if (!found) throw_bad_input("per-layer sparsity names '{}', which is no prunable layer (layers: {})", name, layer_list());
    if (o.m > 0) throw_bad_input("per-layer sparsity ('{}') applies to unstructured pruning; with N:M use --skip", name);
  }
  for (const std::string& pat : o.skip) {
    bool found = std::any_of(ws.begin(), ws.end(), [&](const PrunableWeight& p) { return any_glob_matches({pat}, {p.layer, p.weight->name()}); });
    if (!found) throw_bad_input("--skip '{}' matches no prunable layer (layers: {})", pat, layer_list());
  }
}

}  // namespace

void parse_n_m(const std::string& text, int& n, int& m) {
  size_t colon = text.find(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    size_t used_n = 0, used_m = 0;
    n = std::stoi(text.substr(0, colon), &used_n);
    m = std::stoi(text.substr(colon + 1), &used_m);
    if (used_n != colon || used_m != text.size() - colon - 1) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    throw_bad_input("'{}' is not an N:M pattern such as 2:4", text);
  }
  if (!(n > 0 && n < m && m <= 64)) throw_bad_input("N:M pattern '{}' needs 0 < N < M <= 64", text);
}

MagnitudePruneResult magnitude_masks(const ir::Model& model, const MagnitudePruneOptions& o) {
  if (!(o.sparsity >= 0 && o.sparsity < 1)) throw_bad_input("sparsity must be in [0, 1), got {}", o.sparsity);
  const std::vector<PrunableWeight> ws = prunable_weights(model);
  if (ws.empty()) throw_bad_input("the model has no prunable weights (float initializers of Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU or RNN)");
  check_names(o, ws);

  MagnitudePruneResult r;
  std::vector<size_t> global_pool;
  // First and last are layers (nodes): a recurrent node's W and R go together.
  const bool several_layers = ws.front().node != ws.back().node;
  for (size_t k = 0; k < ws.size(); ++k) {
    const PrunableWeight& p = ws[k];
    const ir::Tensor& w = *p.weight->initializer;
    LayerPruneResult lr{p.layer, p.node->op_type(), p.weight->name(), w.numel(), count_zeros(w), 0, 0, {}, {}};
    const double* over = override_for(o, p);
    if (any_glob_matches(o.skip, {p.layer, p.weight->name()})) {
      lr.note = lr.reason = "--skip";
    } else if (p.node == ws.front().node && !o.prune_first && !over && several_layers) {
      lr.note = "first layer kept dense";
      lr.reason = "first layer kept dense (--prune-first prunes it)";
    } else if (p.node == ws.back().node && !o.prune_last && !over && several_layers) {
      lr.note = "last layer kept dense";
      lr.reason = "last layer kept dense (--prune-last prunes it)";
    } else {
      ir::Tensor mask = ones_like(w);
      const std::vector<double> mag = magnitudes(w);
      if (o.m > 0) {
        if (mask_n_m(mag, w.shape(), p.reduction_axis, o.n, o.m, mask)) {
          lr.target = 1.0 - static_cast<double>(o.n) / o.m;
          r.masks.emplace(p.weight->name(), std::move(mask));
        } else {
          lr.note = fmt::format("axis {} has {} elements, not a multiple of {}", p.reduction_axis,
                                w.shape()[static_cast<size_t>(p.reduction_axis)], o.m);
          lr.reason = fmt::format("summed axis not a multiple of {}", o.m);
        }
      } else if (over || !o.global) {
        lr.target = over ? *over : o.sparsity;
        if (p.gate_rows > 0) mask_smallest_per_block(mag, p.gate_rows, w.shape()[2], lr.target, mask);
        else mask_smallest(mag, std::llround(lr.target * static_cast<double>(w.numel())), mask);
        r.masks.emplace(p.weight->name(), std::move(mask));
      } else {
        lr.target = o.sparsity;
        global_pool.push_back(k);
      }
    }
    r.layers.push_back(std::move(lr));
  }

  if (!global_pool.empty()) {
    // One threshold over every pooled weight: the k-th smallest magnitude; ties at it fall in layer order.
    std::vector<double> all;
    for (size_t k : global_pool) {
      std::vector<double> mag = magnitudes(*ws[k].weight->initializer);
      all.insert(all.end(), mag.begin(), mag.end());
    }
    const auto total = static_cast<int64_t>(all.size());
    const int64_t kth = std::llround(o.sparsity * static_cast<double>(total));
    if (kth > 0) {
      std::vector<double> sorted = all;
      std::nth_element(sorted.begin(), sorted.begin() + (kth - 1), sorted.end());
      const double t = sorted[static_cast<size_t>(kth - 1)];
      int64_t below = std::count_if(all.begin(), all.end(), [&](double a) { return a < t; });
      int64_t ties_left = kth - below;
      size_t offset = 0;
      for (size_t k : global_pool) {
        const ir::Tensor& w = *ws[k].weight->initializer;
        ir::Tensor mask = ones_like(w);
        for (int64_t i = 0; i < w.numel(); ++i) {
          const double a = all[offset + static_cast<size_t>(i)];
          if (a < t || (a == t && ties_left-- > 0)) zero_at(mask, static_cast<size_t>(i));
        }
        offset += static_cast<size_t>(w.numel());
        r.masks.emplace(ws[k].weight->name(), std::move(mask));
      }
    } else {
      for (size_t k : global_pool) r.masks.emplace(ws[k].weight->name(), ones_like(*ws[k].weight->initializer));
    }
  }

  // zeros_after: what applying the masks gives.
  for (LayerPruneResult& lr : r.layers) {
    auto it = r.masks.find(lr.weight);
    if (it == r.masks.end()) {
      lr.zeros_after = lr.zeros_before;
      continue;
    }
    const ir::Tensor& w = *model.graph->find_value(lr.weight)->initializer;
    int64_t z = 0;
    for (int64_t i = 0; i < w.numel(); ++i) z += it->second.element_as_double(i) == 0.0 || w.element_as_double(i) == 0.0;
    lr.zeros_after = z;
  }
  return r;
}

void apply_masks(ir::Model& model, const std::map<std::string, ir::Tensor>& masks) {
  for (const auto& [name, mask] : masks) {
    ir::Value* v = model.graph->find_value(name);
    if (!v || !v->is_initializer() || v->initializer->shape() != mask.shape() || v->initializer->dtype() != mask.dtype()) {
      throw_internal("mask '{}' does not fit the model's weight", name);
    }
    ir::Tensor w = *v->initializer;  // copy-on-write: the old data may be mapped or shared
    ir::Tensor out(w.dtype(), w.shape());
    if (w.dtype() == ir::DType::kFloat) {
      auto a = w.values<float>();
      auto b = mask.values<float>();
      auto o = out.mutable_values<float>();
      for (size_t i = 0; i < a.size(); ++i) o[i] = b[i] == 0.0f ? 0.0f : a[i];
    } else {
      auto a = w.values<double>();
      auto b = mask.values<double>();
      auto o = out.mutable_values<double>();
      for (size_t i = 0; i < a.size(); ++i) o[i] = b[i] == 0.0 ? 0.0 : a[i];
    }
    v->initializer = std::move(out);
  }
}

double overall_sparsity(const std::vector<LayerPruneResult>& layers) {
  int64_t zeros = 0, total = 0;
  for (const LayerPruneResult& l : layers) zeros += l.zeros_after, total += l.elements;
  return total > 0 ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0;
}

std::string MagnitudePrune::options_text() const {
  MagnitudePruneOptions o = options_;
  std::vector<std::string> layer_sparsity;
  for (const auto& [name, s] : o.overrides) layer_sparsity.push_back(fmt::format("{}={}", name, s));
  OptionFields f;
  if (o.m > 0) f.add("n", o.n).add("m", o.m);
  else f.add("sparsity", o.sparsity).add("global", o.global);
  return f.add("layer-sparsity", layer_sparsity).add("skip", o.skip).add("prune-first", o.prune_first)
      .add("prune-last", o.prune_last).print();
}

std::string MagnitudePrune::run(ir::Model& model) {
  result_ = magnitude_masks(model, options_);
  apply_masks(model, result_.masks);
  // Shares of ALL float weights: an LSTM model whose one Gemm is pruned says so (0.3%, not 50%).
  const Coverage c = magnitude_coverage(model, result_.layers);
  return fmt::format("{}: {}; {:.1f}% of all weights zero", name(), c.summary("pruned"), 100.0 * zero_share(model));
}

}  // namespace scalec::passes
