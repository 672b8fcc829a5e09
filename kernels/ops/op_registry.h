#pragma once
// The op registry: for each ONNX op and opset range, forward kernels (CPU, CUDA), output type
// inference and a slot for the backward rule (training engine).
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace scalec::kernels {

class ThreadPool;

/// What every per-node callback sees: the node (attributes) and its opset. Attribute readers
/// check the kind the model stored and fall back to the ONNX default when it is absent.
class NodeAttrs {
 public:
  NodeAttrs(const ir::Node& node, int64_t opset) : node_(node), opset_(opset) {}

  const ir::Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  /// Outputs the node declares (some may be omitted: output_requested).
  size_t num_outputs() const { return node_.outputs().size(); }
  bool output_requested(size_t i) const { return i < node_.outputs().size() && node_.output(i) != nullptr; }

  bool has_attr(const std::string& name) const { return node_.attribute(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  float attr_float(const std::string& name, float fallback) const;
  std::string attr_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& name, std::vector<float> fallback = {}) const;
  /// The tensor attribute `name`, or null.
  const ir::Tensor* attr_tensor(const std::string& name) const;

  /// "[Conv node 'conv1' opset 13]" — the prefix of every kernel and shape error message.
  std::string where() const;

 private:
  const ir::Node& node_;
  int64_t opset_;
};

/// How a forward pass runs: inference, or training (BatchNormalization uses batch statistics and
/// returns updated running statistics, Dropout drops with a seed derived from `seed`).
struct RunMode {
  bool training = false;
  uint64_t seed = 0;  ///< per step; kernels mix in the node so each node draws differently
};

/// What a kernel sees: the node, its opset, its inputs and the thread pool.
class OpContext : public NodeAttrs {
 public:
  OpContext(const ir::Node& node, int64_t opset, std::span<const ir::Tensor* const> inputs, ThreadPool& pool,
            RunMode mode = {})
      : NodeAttrs(node, opset), inputs_(inputs), pool_(pool), mode_(mode) {}

  ThreadPool& pool() const { return pool_; }
  const RunMode& mode() const { return mode_; }

  size_t num_inputs() const { return inputs_.size(); }
  /// True when input i was given (not omitted with "" and not past the end).
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  /// Input i; throws Error(kBadInput) naming the op when it is missing.
  const ir::Tensor& input(size_t i) const;

 private:
  std::span<const ir::Tensor* const> inputs_;
  ThreadPool& pool_;
  RunMode mode_;
};

/// What a backward rule sees: the forward context (inputs, attributes, mode), every tensor the
/// forward kernel returned (also the extras a node does not declare, e.g. Dropout's mask), and
/// the gradients reaching the outputs.
class GradContext : public OpContext {
 public:
  GradContext(const OpContext& forward, std::span<const ir::Tensor> outputs,
              std::span<const ir::Tensor* const> doutputs, std::span<const bool> wants)
      : OpContext(forward), outputs_(outputs), doutputs_(doutputs), wants_(wants) {}

  /// Forward output i (as the kernel returned it).
  const ir::Tensor& output(size_t i) const;
  /// The gradient of output i, or null when none reaches it.
  const ir::Tensor* doutput(size_t i) const { return i < doutputs_.size() ? doutputs_[i] : nullptr; }
  /// True when input i needs a gradient (a rule may skip the work for the others).
  bool wants_grad(size_t i) const { return i < wants_.size() && wants_[i]; }

 private:
  std::span<const ir::Tensor> outputs_;
  std::span<const ir::Tensor* const> doutputs_;
  std::span<const bool> wants_;
};

/// What a shape rule sees: the node, its opset, the input types and the data of inputs whose
/// value is known before running (initializers, Constant outputs, folded shape arithmetic).
class InferContext : public NodeAttrs {
 public:
  InferContext(const ir::Node& node, int64_t opset, std::span<const ir::TypeInfo* const> types,
               std::span<const ir::Tensor* const> values)
      : NodeAttrs(node, opset), types_(types), values_(values) {}

  size_t num_inputs() const { return types_.size(); }
  /// True when input i was given (not omitted with "" and not past the end).
  bool has_input(size_t i) const { return i < types_.size() && types_[i] != nullptr; }
  /// The type of input i (elem_type 0 / no shape where nothing is known); throws when missing.
  const ir::TypeInfo& input_type(size_t i) const;
  /// The data of input i when known before running, else null.
  const ir::Tensor* input_value(size_t i) const { return i < values_.size() ? values_[i] : nullptr; }

 private:
  std::span<const ir::TypeInfo* const> types_;
  std::span<const ir::Tensor* const> values_;
};

/// A forward kernel: computes every output the node declares (omitted ones may be empty tensors).
using ForwardFn = std::function<std::vector<ir::Tensor>(const OpContext&)>;

/// A backward rule: returns one tensor per input, the gradient of the loss with respect to it
/// (same dtype and shape as the input), or an empty Tensor() where none is wanted or defined.
using BackwardFn = std::function<std::vector<ir::Tensor>(const GradContext& ctx)>;

/// A shape and type rule: one TypeInfo per declared output (elem_type 0 / shape nullopt / a Dim
/// with neither value nor name where it cannot tell). Throws Error(kBadInput) naming the node
/// when the input types contradict the op (e.g. MatMul inner dimensions differ).
using InferFn = std::function<std::vector<ir::TypeInfo>(const InferContext&)>;

/// One implementation of an op for a range of opset versions.
struct OpDef {
  std::string domain;      ///< "" for ai.onnx
  std::string op_type;     ///< exactly as ONNX spells it
  int64_t since_version;   ///< first opset this implementation follows
  int64_t until_version;   ///< last opset it follows (inclusive)
  ForwardFn forward_cpu;
  ForwardFn forward_cuda;  ///< empty until a CUDA kernel exists
  BackwardFn backward;     ///< empty until the training engine adds the op's rule
  InferFn infer;           ///< output types from input types
};

/// All ops scalec runs. Registration is written out in one list (op_registry.cpp): self-registering
/// statics in static libraries get dropped by the linker.
class OpRegistry {
 public:
  /// The registry with every op family registered.
  static const OpRegistry& instance();

  /// Adds an implementation; `until_version` defaults to "still current".
  void add(std::string op_type, int64_t since, int64_t until, ForwardFn cpu, std::string domain = "");
  /// Sets the shape rule of every registered version of `op_type` (the rule reads ctx.opset()
  /// where versions differ). Throws Error(kInternal) when the op is not registered.
  void set_infer(const std::string& op_type, InferFn infer, const std::string& domain = "");
  /// Sets the backward rule of every registered version of `op_type`.
  void set_backward(const std::string& op_type, BackwardFn backward, const std::string& domain = "");
  /// The implementation for `op_type` at `opset`, or null.
  const OpDef* find(const std::string& domain, const std::string& op_type, int64_t opset) const;
  /// Every op type known in `domain` (any version).
  std::vector<std::string> op_types(const std::string& domain = "") const;
  /// True when some version of the op is known.
  bool knows(const std::string& domain, const std::string& op_type) const;

 private:
  std::map<std::pair<std::string, std::string>, std::vector<OpDef>> ops_;
};

/// Newest opset an op implementation can claim to follow.
inline constexpr int64_t kLatestOpset = 22;

// One function per op family, each in its own file under kernels/ops/.
void register_elementwise_ops(OpRegistry& r);
void register_activation_ops(OpRegistry& r);
void register_tensor_ops(OpRegistry& r);
void register_nn_ops(OpRegistry& r);
void register_pool_ops(OpRegistry& r);
void register_normalization_ops(OpRegistry& r);
void register_reduction_ops(OpRegistry& r);
void register_quantization_ops(OpRegistry& r);
void register_recurrent_ops(OpRegistry& r);

// Shape and type rules (OpRegistry::set_infer), one file per family: kernels/ops/<family>_shapes.cpp.
void register_elementwise_shapes(OpRegistry& r);
void register_activation_shapes(OpRegistry& r);
void register_tensor_shapes(OpRegistry& r);
void register_nn_shapes(OpRegistry& r);
void register_pool_shapes(OpRegistry& r);
void register_normalization_shapes(OpRegistry& r);
void register_reduction_shapes(OpRegistry& r);
void register_quantization_shapes(OpRegistry& r);
void register_recurrent_shapes(OpRegistry& r);

// Backward rules (OpRegistry::set_backward), one file per family: kernels/ops/<family>_grads.cpp.
void register_elementwise_grads(OpRegistry& r);
void register_activation_grads(OpRegistry& r);
void register_tensor_grads(OpRegistry& r);
void register_nn_grads(OpRegistry& r);
void register_pool_grads(OpRegistry& r);
void register_normalization_grads(OpRegistry& r);
void register_reduction_grads(OpRegistry& r);
void register_recurrent_grads(OpRegistry& r);

}  // namespace scalec::kernels
