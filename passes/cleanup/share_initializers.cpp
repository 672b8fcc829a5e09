#include "passes/cleanup/share_initializers.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

namespace scalec::passes {

namespace {

bool same_tensor(const ir::Tensor& a, const ir::Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const auto x = a.bytes();
  const auto y = b.bytes();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size()) == 0;
}

size_t hash_tensor(const ir::Tensor& t) {
  const auto b = t.bytes();
  size_t h = std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  for (int64_t d : t.shape()) h = h * 31 + std::hash<int64_t>{}(d);
  return h * 31 + static_cast<size_t>(t.dtype());
}

}  // namespace

int64_t share_identical_initializers(ir::Graph& g) {
  const std::unordered_set<const ir::Value*> listed = [&] {
    std::unordered_set<const ir::Value*> s(g.inputs.begin(), g.inputs.end());
    s.insert(g.outputs.begin(), g.outputs.end());
    return s;
  }();
  std::unordered_map<size_t, std::vector<ir::Value*>> kept;
  std::vector<ir::Value*> dropped;
  for (ir::Value* v : g.initializers) {
    if (!v->initializer || listed.count(v) || !ir::dtype_is_float(v->initializer->dtype())) continue;
    std::vector<ir::Value*>& same_hash = kept[hash_tensor(*v->initializer)];
    auto first = std::find_if(same_hash.begin(), same_hash.end(),
                              [&](const ir::Value* k) { return same_tensor(*k->initializer, *v->initializer); });
    if (first == same_hash.end()) {
      same_hash.push_back(v);
      continue;
    }
    g.replace_all_uses(v, *first);
    dropped.push_back(v);
  }
  if (dropped.empty()) return 0;
  const std::unordered_set<const ir::Value*> gone(dropped.begin(), dropped.end());
  std::erase_if(g.initializers, [&](const ir::Value* v) { return gone.count(v) != 0; });
  g.remove_unused_values();
  return static_cast<int64_t>(dropped.size());
}

std::string ShareInitializers::run(ir::Model& model) {
  const int64_t n = share_identical_initializers(*model.graph);
  return fmt::format("share-initializers: {} equal weight tensor{} stored once", n, n == 1 ? "" : "s");
}

}  // namespace scalec::passes
