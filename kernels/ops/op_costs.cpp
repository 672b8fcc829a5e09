#include "kernels/ops/op_costs.h"

#include <string_view>
#include <vector>

namespace scalec::kernels {

namespace {

// The value's shape with symbolic dimensions set to 1; nullopt when not fully recorded.
std::optional<std::vector<int64_t>> shape_of(const ir::Value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->initializer) return v->initializer->shape();
  if (!v->type || v->type->kind != ir::TypeInfo::Kind::kTensor || !v->type->shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : *v->type->shape) {
    if (d.value) dims.push_back(*d.value);
    else if (!d.param.empty()) dims.push_back(1);
    else return std::nullopt;
  }
  return dims;
}

int64_t product(const std::vector<int64_t>& s, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < s.size(); ++i) p *= s[i];
  return p;
}

bool is(std::string_view op, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (op == n) return true;
  }
  return false;
}

}  // namespace

std::optional<int64_t> node_macs(const ir::Node& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return std::nullopt;
  const std::string& op = n.op_type();
  if (is(op, {"Conv", "ConvInteger", "QLinearConv"})) {
    // Y[N, M, out...] = sum over C/group and the kernel window: numel(Y) * prod(W.shape[1:]).
    size_t w_index = op == "QLinearConv" ? 3 : 1;
    auto y = shape_of(n.output(0));
    auto w = shape_of(n.input(w_index));
    if (!y || !w || w->size() < 2) return std::nullopt;
    return product(*y) * product(*w, 1);
  }
  if (op == "ConvTranspose") {
    // Each input element scatters into M/group * kernel outputs: numel(X) * prod(W.shape[1:]).
    auto x = shape_of(n.input(0));
    auto w = shape_of(n.input(1));
    if (!x || !w || w->size() < 2) return std::nullopt;
    return product(*x) * product(*w, 1);
  }
  if (is(op, {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"})) {
    // numel(Y) * K, with K the reduced dimension of A.
    auto y = shape_of(n.output(0));
    auto a = shape_of(n.input(0));
    if (!y || !a || a->empty()) return std::nullopt;
    int64_t k = a->back();
    if (op == "Gemm") {
      const ir::Attribute* trans_a = n.attribute("transA");
      if (trans_a && trans_a->i != 0 && a->size() == 2) k = (*a)[0];
    }
    return product(*y) * k;
  }
  return std::nullopt;
}

GraphMacs graph_macs(const ir::Graph& graph) {
  GraphMacs total;
  static const std::initializer_list<std::string_view> kMacOps = {
      "Conv", "ConvInteger", "QLinearConv", "ConvTranspose", "Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"};
  for (const auto& n : graph.nodes()) {
    if (auto m = node_macs(*n)) {
      total.macs += *m;
      ++total.counted_nodes;
    } else if ((n->domain().empty() || n->domain() == "ai.onnx") && is(n->op_type(), kMacOps)) {
      ++total.unknown_nodes;
    }
    for (const ir::Attribute& a : n->attributes()) {
      auto add = [&](const std::shared_ptr<ir::Graph>& g) {
        if (!g) return;
        GraphMacs sub = graph_macs(*g);
        total.macs += sub.macs;
        total.counted_nodes += sub.counted_nodes;
        total.unknown_nodes += sub.unknown_nodes;
      };
      add(a.g);
      for (const auto& g : a.graphs) add(g);
    }
  }
  return total;
}

}  // namespace scalec::kernels
