#include "distill/init_from_teacher.h"

#include <string>
#include <unordered_map>

namespace scalec::distill {

WeightCopy copy_matching_weights(ir::Model& student, const ir::Model& teacher) {
  std::unordered_map<std::string, const ir::Tensor*> by_name;
  for (const ir::Value* v : teacher.graph->initializers) by_name.emplace(v->name(), &*v->initializer);
  WeightCopy c;
  for (ir::Value* v : student.graph->initializers) {
    ir::Tensor& s = *v->initializer;
    if (s.dtype() != ir::DType::kFloat && s.dtype() != ir::DType::kDouble) continue;  // only what training touches
    ++c.float_tensors;
    auto it = by_name.find(v->name());
    // Same name but another shape is a layer the student changed: it keeps its own weights.
    if (it == by_name.end() || it->second->dtype() != s.dtype() || it->second->shape() != s.shape()) continue;
    s = *it->second;
    ++c.tensors;
    c.elements += s.numel();
  }
  return c;
}

}  // namespace scalec::distill
