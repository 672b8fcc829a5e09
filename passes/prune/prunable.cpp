#include "passes/prune/prunable.h"

#include <optional>
#include <set>

#include "ir/weight_slots.h"

namespace scalec::passes {

bool is_float_layer(const ir::Node& n) {
  const std::string& op = n.op_type();
  return n.domain().empty() && (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul");
}

std::vector<PrunableWeight> prunable_weights(const ir::Model& model) {
  std::vector<PrunableWeight> out;
  std::set<const ir::Value*> seen;
  for (const ir::Node* n : model.graph->topological_order()) {
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
