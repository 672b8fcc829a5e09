#include "passes/prune/prunable.h"

#include <optional>
#include <set>

#include "ir/weight_slots.h"

namespace scalec::passes {

bool is_float_layer(const ir::Node& n) {
  const std::string& op = n.op_type();
  return n.domain().empty() && (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul");
}

bool is_recurrent_layer(const ir::Node& n) {
  const std::string& op = n.op_type();
  return n.domain().empty() && (op == "LSTM" || op == "GRU" || op == "RNN");
}

namespace {

// W (input 1) and R (input 2) of recurrent node `n`: float [D, G*H, C], summed over C (axis 2).
void add_recurrent(const ir::Node* n, std::set<const ir::Value*>& seen, std::vector<PrunableWeight>& out) {
  const int64_t gates = n->op_type() == "LSTM" ? 4 : n->op_type() == "GRU" ? 3 : 1;
  const std::string layer = n->name.empty() && n->input(1) ? n->input(1)->name() : n->name;
  for (size_t i : {size_t{1}, size_t{2}}) {
    ir::Value* w = n->input(i);
    if (!w || !w->is_initializer()) continue;
    const ir::Tensor& t = *w->initializer;
    if (t.rank() != 3 || t.shape()[1] % gates != 0) continue;
    if ((t.dtype() != ir::DType::kFloat && t.dtype() != ir::DType::kDouble) || !seen.insert(w).second) continue;
    out.push_back({w, n, layer.empty() ? w->name() : layer, 2, t.shape()[1] / gates});
  }
}

}  // namespace

std::vector<PrunableWeight> prunable_weights(const ir::Model& model) {
  std::vector<PrunableWeight> out;
  std::set<const ir::Value*> seen;
  for (const ir::Node* n : model.graph->topological_order()) {
    if (is_recurrent_layer(*n)) add_recurrent(n, seen, out);
    if (!is_float_layer(*n)) continue;
    ir::Value* w = n->input(1);
    if (!w || !w->is_initializer()) continue;
    const ir::Tensor& t = *w->initializer;
    const std::optional<ir::WeightSlot> slot = ir::weight_slot(*n, t.rank());
    if (!slot || (t.dtype() != ir::DType::kFloat && t.dtype() != ir::DType::kDouble) || !seen.insert(w).second) continue;
    out.push_back({w, n, n->name.empty() ? w->name() : n->name, slot->in_axis});
  }
  return out;
}

}  // namespace scalec::passes
