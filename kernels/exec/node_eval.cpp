#include "kernels/exec/node_eval.h"

#include "ir/error.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

NodeEvaluator::NodeEvaluator(int threads) : pool_(std::make_unique<ThreadPool>(threads)) {}

NodeEvaluator::~NodeEvaluator() = default;

std::optional<std::vector<ir::TypeInfo>> NodeEvaluator::infer(const ir::Node& node, int64_t opset,
                                                              std::span<const ir::Tensor* const> inputs) const {
  const OpDef* op = OpRegistry::instance().find(node.domain(), node.op_type(), opset);
  if (op == nullptr || !op->infer || !op->forward_cpu) return std::nullopt;
  std::vector<ir::TypeInfo> types;
  types.reserve(inputs.size());
  for (const ir::Tensor* t : inputs) types.push_back(t ? ir::TypeInfo::tensor(t->dtype(), t->shape()) : ir::TypeInfo{});
  std::vector<const ir::TypeInfo*> type_ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) type_ptrs.push_back(inputs[i] ? &types[i] : nullptr);
  InferContext ctx(node, opset, type_ptrs, inputs);
  std::vector<ir::TypeInfo> out = op->infer(ctx);
  if (out.size() < node.outputs().size()) out.resize(node.outputs().size());
  return out;
}

std::vector<ir::Tensor> NodeEvaluator::run(const ir::Node& node, int64_t opset, std::span<const ir::Tensor* const> inputs) {
  const OpDef* op = OpRegistry::instance().find(node.domain(), node.op_type(), opset);
  if (op == nullptr || !op->forward_cpu) {
    throw_bad_input("[{}] node '{}': scalec has no kernel for it at opset {}", node.op_type(), node.name, opset);
  }
  OpContext ctx(node, opset, inputs, *pool_);
  return op->forward_cpu(ctx);
}

}  // namespace scalec::kernels
