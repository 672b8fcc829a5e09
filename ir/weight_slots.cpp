#include "ir/weight_slots.h"

#include "ir/node_attrs.h"

namespace scalec::ir {

std::optional<WeightSlot> weight_slot(const Node& node, int64_t rank) {
  if ((!node.domain().empty() && node.domain() != "ai.onnx") || rank < 2) return std::nullopt;
  const std::string& op = node.op_type();
  if (op == "Conv" || op == "ConvInteger" || op == "QLinearConv") {
    return WeightSlot{op == "QLinearConv" ? size_t{3} : size_t{1}, 0, 1, true, false};
  }
  if (op == "ConvTranspose") {
    return WeightSlot{1, 1, 0, true, true};
  }
  if (op == "Gemm") {
    const bool trans_b = int_attr(node, "transB", 0) != 0;
    return WeightSlot{1, trans_b ? 0 : 1, trans_b ? 1 : 0, false, false};
  }
  if (op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
    return WeightSlot{op == "QLinearMatMul" ? size_t{3} : size_t{1}, rank - 1, rank - 2, false, false};
  }
  return std::nullopt;
}

}  // namespace scalec::ir
