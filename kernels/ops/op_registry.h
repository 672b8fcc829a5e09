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

/// What a kernel sees: the node (attributes), its opset, its inputs and the thread pool.
class OpContext {
 public:
  OpContext(const ir::Node& node, int64_t opset, std::span<const ir::Tensor* const> inputs, ThreadPool& pool)
      : node_(node), opset_(opset), inputs_(inputs), pool_(pool) {}

  const ir::Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  ThreadPool& pool() const { return pool_; }

  size_t num_inputs() const { return inputs_.size(); }
  /// True when input i was given (not omitted with "" and not past the end).
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  /// Input i; throws Error(kBadInput) naming the op when it is missing.
  const ir::Tensor& input(size_t i) const;
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

  /// "[Conv node 'conv1' opset 13]" — the prefix of every kernel error message.
  std::string where() const;

 private:
  const ir::Node& node_;
  int64_t opset_;
  std::span<const ir::Tensor* const> inputs_;
  ThreadPool& pool_;
};

/// A forward kernel: computes every output the node declares (omitted ones may be empty tensors).
using ForwardFn = std::function<std::vector<ir::Tensor>(const OpContext&)>;

/// A backward rule: given the forward context and the gradients of the outputs (null where an
/// output gets none), returns the gradients of the inputs (empty tensors for non-differentiable
/// ones). Filled in by the training engine; null for ops that have none yet.
using BackwardFn =
    std::function<std::vector<ir::Tensor>(const OpContext& ctx, std::span<const ir::Tensor* const> doutputs)>;

/// One implementation of an op for a range of opset versions.
struct OpDef {
  std::string domain;      ///< "" for ai.onnx
  std::string op_type;     ///< exactly as ONNX spells it
  int64_t since_version;   ///< first opset this implementation follows
  int64_t until_version;   ///< last opset it follows (inclusive)
  ForwardFn forward_cpu;
  ForwardFn forward_cuda;  ///< empty until a CUDA kernel exists
  BackwardFn backward;     ///< empty until the training engine adds the op's rule
};

/// All ops scalec runs. Registration is written out in one list (op_registry.cpp): self-registering
/// statics in static libraries get dropped by the linker.
class OpRegistry {
 public:
  /// The registry with every op family registered.
  static const OpRegistry& instance();

  /// Adds an implementation; `until_version` defaults to "still current".
  void add(std::string op_type, int64_t since, int64_t until, ForwardFn cpu, std::string domain = "");
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

}  // namespace scalec::kernels
