#include "passes/core/constant.h"

#include <algorithm>

namespace scalec::passes {

const ir::Tensor* constant_tensor(const ir::Graph& graph, const ir::Value* v) {
  if (v == nullptr) return nullptr;
  if (v->initializer) {
    const bool is_input = std::find(graph.inputs.begin(), graph.inputs.end(), v) != graph.inputs.end();
    return is_input ? nullptr : &*v->initializer;
  }
  const ir::Node* p = v->producer();
  if (p == nullptr || p->op_type() != "Constant" || !(p->domain().empty() || p->domain() == "ai.onnx")) return nullptr;
  const ir::Attribute* a = p->attribute("value");
  return a != nullptr && a->t ? &*a->t : nullptr;
}

}  // namespace scalec::passes
