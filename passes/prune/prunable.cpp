#include "passes/prune/prunable.h"

#include <set>

namespace scalec::passes {

namespace {

// The input index holding the weight, and the axis summed over, for the layers pruning handles.
bool weight_slot(const ir::Node& n, size_t& slot, int64_t& reduction_axis) {
  const std::string& op = n.op_type();
  if (!n.domain().empty()) return false;
  if (op == "Conv") {
    slot = 1, reduction_axis = 1;  // W [O, I/g, k...]
  } else if (op == "ConvTranspose") {
    slot = 1, reduction_axis = 0;  // W [I, O/g, k...]
  } else if (op == "Gemm") {
    const ir::Attribute* tb = n.attribute("transB");
    slot = 1, reduction_axis = tb && tb->i != 0 ? 1 : 0;  // B [K, N], or [N, K] with transB
  } else if (op == "MatMul") {
    slot = 1, reduction_axis = 0;  // [K, N] (a batch of them when rank > 2: K is axis -2)
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::vector<PrunableWeight> prunable_weights(const ir::Model& model) {
  std::vector<PrunableWeight> out;
  std::set<const ir::Value*> seen;
  for (const ir::Node* n : model.graph->topological_order()) {
    size_t slot = 0;
    int64_t axis = 0;
    if (!weight_slot(*n, slot, axis)) continue;
    ir::Value* w = n->input(slot);
    if (!w || !w->is_initializer() || !seen.insert(w).second) continue;
    const ir::Tensor& t = *w->initializer;
    if (t.rank() < 2 || (t.dtype() != ir::DType::kFloat && t.dtype() != ir::DType::kDouble)) continue;
    if (n->op_type() == "MatMul") axis = t.rank() - 2;
    out.push_back({w, n, n->name.empty() ? w->name() : n->name, axis});
  }
  return out;
}

}  // namespace scalec::passes
