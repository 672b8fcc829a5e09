#include "kernels/ops/op_costs.h"

#include <vector>

#include "ir/weight_slots.h"

namespace scalec::kernels {

namespace {

// The value's shape when every dimension is a number; nullopt otherwise (a symbolic or unknown
// dimension is not guessed: model_macs fixes the batch before counting).
std::optional<std::vector<int64_t>> shape_of(const ir::Value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->initializer) return v->initializer->shape();
  if (!v->type || v->type->kind != ir::TypeInfo::Kind::kTensor || !v->type->shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const ir::Dim& d : *v->type->shape) {
    if (!d.value) return std::nullopt;
    dims.push_back(*d.value);
  }
  return dims;
}

int64_t product(const std::vector<int64_t>& s) {
  int64_t p = 1;
  for (int64_t d : s) p *= d;
  return p;
}

// The weight's input index of a MAC op (the slot does not depend on the rank; 2 is any valid one).
std::optional<size_t> weight_input(const ir::Node& n) {
  const std::optional<ir::WeightSlot> s = ir::weight_slot(n, 2);
  return s ? std::optional<size_t>(s->input) : std::nullopt;
}

// LSTM, GRU, RNN (ai.onnx): their weights are not a slot of the pruning/quantization table, but
// their products are most of a recurrent model's work.
bool is_recurrent(const ir::Node& n) {
  if (n.domain() == "com.microsoft") return n.op_type() == "DynamicQuantizeLSTM";
  return (n.domain().empty() || n.domain() == "ai.onnx") &&
         (n.op_type() == "LSTM" || n.op_type() == "GRU" || n.op_type() == "RNN");
}

// X [S, N, I] (or [N, S, I]), W [D, G*H, I], R [D, G*H, H]: every step of every direction multiplies
// X's row by W^T and the state by R^T: S * N * D * G*H * (I + H).
std::optional<int64_t> recurrent_macs(const ir::Node& n) {
  if (n.inputs().size() < 3) return std::nullopt;
  auto x = shape_of(n.input(0));
  auto w = shape_of(n.input(1));
  auto r = shape_of(n.input(2));
  if (!x || !w || !r || x->size() != 3 || w->size() != 3 || r->size() != 3) return std::nullopt;
  // DynamicQuantizeLSTM (com.microsoft) stores W and R transposed: [D, I, 4H] and [D, H, 4H].
  if (n.op_type() == "DynamicQuantizeLSTM") return (*x)[0] * (*x)[1] * (*w)[0] * (*w)[2] * ((*w)[1] + (*r)[1]);
  return (*x)[0] * (*x)[1] * (*w)[0] * (*w)[1] * ((*w)[2] + (*r)[2]);
}

}  // namespace

bool is_mac_op(const ir::Node& n) { return weight_input(n).has_value() || is_recurrent(n); }

std::optional<int64_t> node_macs(const ir::Node& n) {
  if (is_recurrent(n)) return recurrent_macs(n);
  const std::optional<size_t> wi = weight_input(n);
  if (!wi) return std::nullopt;
  auto w = shape_of(n.input(*wi));
  auto y = shape_of(n.output(0));
  if (!w || !y) return std::nullopt;
  if (w->size() == 1) return product(*y) * (*w)[0];  // MatMul by a vector: Y sums over K = w[0]
  const std::optional<ir::WeightSlot> s = ir::weight_slot(n, static_cast<int64_t>(w->size()));
  if (!s) return std::nullopt;
  const auto out_axis = static_cast<size_t>(s->out_axis), in_axis = static_cast<size_t>(s->in_axis);
  if (s->transposed) {
    // ConvTranspose: each input element scatters over M/group * kernel outputs: numel(X) * prod(W) / C.
    auto x = shape_of(n.input(0));
    if (!x) return std::nullopt;
    return product(*x) * (product(*w) / (*w)[in_axis]);
  }
  // Conv: every output element sums over C/group * kernel: numel(Y) * prod(W) / M.
  if (s->conv) return product(*y) * (product(*w) / (*w)[out_axis]);
  // Gemm, MatMul: numel(Y) * K.
  return product(*y) * (*w)[in_axis];
}

GraphMacs graph_macs(const ir::Graph& graph) {
  GraphMacs total;
  for (const auto& n : graph.nodes()) {
    if (auto m = node_macs(*n)) {
      total.macs += *m;
      ++total.counted_nodes;
    } else if (is_mac_op(*n)) {
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
