#include "kernels/ops/op_registry.h"

#include "ir/error.h"
#include "ir/node_attrs.h"
#include "ir/printable.h"
#include "kernels/ops/fake_quant_op.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/quantized_recurrent_op.h"

namespace scalec::kernels {

const ir::Tensor& OpContext::input(size_t i) const {
  if (!has_input(i)) throw_bad_input("{} input {} is required but missing", where(), i);
  return *inputs_[i];
}

// The readers are ir/node_attrs.h's (one implementation of the kind checks for kernels and passes).
int64_t NodeAttrs::attr_int(const std::string& name, int64_t fallback) const { return ir::int_attr(node_, name, fallback); }

float NodeAttrs::attr_float(const std::string& name, float fallback) const { return ir::float_attr(node_, name, fallback); }

std::string NodeAttrs::attr_string(const std::string& name, const std::string& fallback) const {
  return ir::string_attr(node_, name, fallback);
}

std::vector<int64_t> NodeAttrs::attr_ints(const std::string& name, std::vector<int64_t> fallback) const {
  return ir::ints_attr(node_, name, std::move(fallback));
}

std::vector<float> NodeAttrs::attr_floats(const std::string& name, std::vector<float> fallback) const {
  return ir::floats_attr(node_, name, std::move(fallback));
}

const ir::Tensor* NodeAttrs::attr_tensor(const std::string& name) const {
  const ir::Attribute* a = node_.attribute(name);
  return a && a->t ? &*a->t : nullptr;
}

std::string NodeAttrs::where() const {
  return fmt::format("[{} node '{}' opset {}]", ir::printable(node_.op_type()), ir::printable(node_.name), opset_);
}

int64_t normalize_axis(const NodeAttrs& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) throw_bad_input("{} axis {} is out of range for rank {}", ctx.where(), axis, rank);
  return axis < 0 ? axis + rank : axis;
}

const ir::TypeInfo& InferContext::input_type(size_t i) const {
  if (!has_input(i)) throw_bad_input("{} input {} is required but missing", where(), i);
  return *types_[i];
}

void OpRegistry::add(std::string op_type, int64_t since, int64_t until, ForwardFn cpu, std::string domain) {
  auto& defs = ops_[{domain, op_type}];
  for (const OpDef& d : defs) {
    if (since <= d.until_version && d.since_version <= until) {
      throw_internal("op {} registered twice for opsets {}-{} and {}-{}", op_type, d.since_version, d.until_version,
                     since, until);
    }
  }
  defs.push_back(OpDef{std::move(domain), std::move(op_type), since, until, std::move(cpu), {}, {}, {}});
}

const ir::Tensor& GradContext::output(size_t i) const {
  if (i >= outputs_.size()) throw_internal("{} backward reads output {} of {}", where(), i, outputs_.size());
  return outputs_[i];
}

void OpRegistry::set_backward(const std::string& op_type, BackwardFn backward, const std::string& domain) {
  auto it = ops_.find({domain, op_type});
  if (it == ops_.end()) throw_internal("backward rule for unregistered op {}", op_type);
  for (OpDef& d : it->second) d.backward = backward;
}

void OpRegistry::set_infer(const std::string& op_type, InferFn infer, const std::string& domain) {
  auto it = ops_.find({domain, op_type});
  if (it == ops_.end()) throw_internal("shape rule for unregistered op {}", op_type);
  for (OpDef& d : it->second) d.infer = infer;
}

const OpDef* OpRegistry::find(const std::string& domain, const std::string& op_type, int64_t opset) const {
  std::string d = domain == "ai.onnx" ? "" : domain;
  auto it = ops_.find({d, op_type});
  if (it == ops_.end()) return nullptr;
  for (const OpDef& def : it->second) {
    if (opset >= def.since_version && opset <= def.until_version) return &def;
  }
  return nullptr;
}

std::vector<std::string> OpRegistry::op_types(const std::string& domain) const {
  std::vector<std::string> out;
  for (const auto& [key, defs] : ops_) {
    if (key.first == domain) out.push_back(key.second);
  }
  return out;
}

bool OpRegistry::knows(const std::string& domain, const std::string& op_type) const {
  return ops_.count({domain == "ai.onnx" ? "" : domain, op_type}) > 0;
}

const OpRegistry& OpRegistry::instance() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_elementwise_ops(r);
    register_activation_ops(r);
    register_tensor_ops(r);
    register_nn_ops(r);
    register_pool_ops(r);
    register_normalization_ops(r);
    register_reduction_ops(r);
    register_quantization_ops(r);
    register_recurrent_ops(r);
    register_elementwise_shapes(r);
    register_activation_shapes(r);
    register_tensor_shapes(r);
    register_nn_shapes(r);
    register_pool_shapes(r);
    register_normalization_shapes(r);
    register_reduction_shapes(r);
    register_quantization_shapes(r);
    register_recurrent_shapes(r);
    register_elementwise_grads(r);
    register_activation_grads(r);
    register_tensor_grads(r);
    register_nn_grads(r);
    register_pool_grads(r);
    register_normalization_grads(r);
    register_reduction_grads(r);
    register_recurrent_grads(r);
    register_fake_quant_ops(r);
    register_quantized_recurrent_ops(r);
    return r;
  }();
  return registry;
}

}  // namespace scalec::kernels
