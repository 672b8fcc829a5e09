#pragma once
// The graph data model: Value (an SSA edge), Node (an op application), Attribute, Graph, Model.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/tensor.h"
#include "ir/type_info.h"

namespace scalec::ir {

class Graph;
class Node;

/// One consumer of a value: the node and which of its inputs.
struct Use {
  Node* node;
  size_t input_index;
  bool operator==(const Use&) const = default;
};

/// A named value: a graph input, an initializer (constant data), or a node output.
/// Values live in the Graph that defines them; subgraph nodes may use values of enclosing graphs.
class Value {
 public:
  const std::string& name() const { return name_; }
  Graph* owner() const { return owner_; }
  Node* producer() const { return producer_; }
  size_t producer_index() const { return producer_index_; }
  const std::vector<Use>& uses() const { return uses_; }

  /// Recorded type (graph input/output or value_info); nullopt when the model records none.
  std::optional<TypeInfo> type;
  /// Constant data when this value is an initializer.
  std::optional<Tensor> initializer;
  std::string doc_string;
  /// Serialized fields of the ValueInfoProto this scalec build does not know (newer ONNX).
  std::string unknown_fields;
  /// The initializer's TensorProto fields beyond name, type, shape and data (doc_string, newer
  /// fields), serialized; onnx_io restores them on save.
  std::string initializer_extras;

  bool is_initializer() const { return initializer.has_value(); }

 private:
  friend class Graph;
  friend class Node;
  std::string name_;
  Graph* owner_ = nullptr;
  Node* producer_ = nullptr;
  size_t producer_index_ = 0;
  std::vector<Use> uses_;
};

/// An attribute; only the fields of its kind are meaningful (mirrors AttributeProto).
struct Attribute {
  enum class Kind : uint8_t {
    kUndefined, kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors,
    kGraphs, kSparseTensor, kSparseTensors, kTypeProto, kTypeProtos,
  };
  std::string name;
  Kind kind = Kind::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::optional<Tensor> t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  std::vector<std::string> opaque;  ///< serialized sparse tensors / type protos
  std::vector<std::string> tensor_extras;  ///< per tensor (t, then tensors): see Value::initializer_extras
  std::string ref_attr_name;        ///< set inside function bodies
  std::string doc_string;
  std::string unknown_fields;
};

/// One op application. Inputs may be null (an omitted optional input, "" in ONNX).
class Node {
 public:
  const std::string& op_type() const { return op_type_; }
  const std::string& domain() const { return domain_; }
  Graph* owner() const { return owner_; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs_.size() ? outputs_[i] : nullptr; }

  /// Replaces input i (updating both values' use lists); `v` may be null.
  void set_input(size_t i, Value* v);
  /// Appends an input.
  void add_input(Value* v);

  const Attribute* attribute(const std::string& name) const;
  Attribute* mutable_attribute(const std::string& name);
  /// Adds or replaces an attribute, keeping first-seen order.
  void set_attribute(Attribute a);
  const std::vector<Attribute>& attributes() const { return attributes_; }
  std::vector<Attribute>& mutable_attributes() { return attributes_; }

  std::string name;
  std::string doc_string;
  std::string overload;
  std::string unknown_fields;

 private:
  friend class Graph;
  /// Removes the use (node, index) from v's use list.
  static void drop_use(Value* v, Node* node, size_t index);
  std::string op_type_;
  std::string domain_;
  Graph* owner_ = nullptr;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Attribute> attributes_;
};

/// A graph: values, nodes in stored order, inputs, outputs and initializers.
/// A subgraph (If/Loop/Scan body) has a parent and may read the parent's values.
class Graph {
 public:
  explicit Graph(std::string name = {}, Graph* parent = nullptr);
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph();

  std::string name;
  std::string doc_string;
  std::string unknown_fields;
  /// Serialized sparse_initializer and quantization_annotation entries, passed through untouched.
  std::vector<std::string> opaque_sparse_initializers;
  std::vector<std::string> opaque_quantization_annotations;

  Graph* parent() const { return parent_; }
  void set_parent(Graph* p) { parent_ = p; }

  /// Creates a value named `name` owned by this graph. Duplicate names are allowed here so that
  /// a model that breaks SSA can still be loaded and reported by the verifier.
  Value* create_value(const std::string& name);
  /// The value named `name` defined in this graph (first one if duplicated), or null.
  Value* find_value(const std::string& name) const;
  /// Looks `name` up here, then in enclosing graphs.
  Value* lookup(const std::string& name) const;
  /// A name not yet used in this graph or its ancestors, based on `base`.
  std::string unique_name(const std::string& base) const;
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

  /// Appends a node; its outputs must be values of this graph without a producer.
  Node* add_node(const std::string& op_type, const std::vector<Value*>& inputs,
                 const std::vector<Value*>& outputs, const std::string& domain = {});
  /// Inserts a node just before `pos` in stored order.
  Node* insert_node_before(const Node* pos, const std::string& op_type,
                           const std::vector<Value*>& inputs, const std::vector<Value*>& outputs,
                           const std::string& domain = {});
  /// Removes a node. Its outputs must be unused (use replace_all_uses first) and not graph outputs.
  void remove_node(Node* node);
  /// Points every use of `from` (in this graph, subgraphs and graph outputs) at `to`.
  void replace_all_uses(Value* from, Value* to);
  /// Removes values that nothing produces, uses or lists (after edits).
  void remove_unused_values();
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }

  std::vector<Value*> inputs;        ///< graph inputs, in order (may include initializer names)
  std::vector<Value*> outputs;       ///< graph outputs, in order
  std::vector<Value*> initializers;  ///< initializer values, in stored order

  /// Adds an initializer value holding `t`.
  Value* add_initializer(const std::string& name, Tensor t);
  /// Nodes ordered so every producer precedes its consumers, keeping stored order where it can;
  /// throws Error(kBadInput) naming a node on a cycle.
  std::vector<Node*> topological_order() const;
  /// Reorders the stored nodes topologically.
  void sort_topologically();
  /// Values from enclosing graphs that this graph's nodes (or nested subgraphs) read.
  std::vector<Value*> outer_scope_values() const;

 private:
  friend class Node;
  /// True when `v` is an output of this graph or of any subgraph nested in it.
  bool is_graph_output_anywhere(const Value* v) const;
  Graph* parent_ = nullptr;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> by_name_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

/// An opset import: domain ("" = ai.onnx) and version.
struct OpsetImport {
  std::string domain;
  int64_t version = 0;
  bool operator==(const OpsetImport&) const = default;
};

/// A whole model: header fields, opsets, metadata and the main graph.
struct Model {
  int64_t ir_version = 0;
  std::vector<OpsetImport> opset_imports;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  std::unique_ptr<Graph> graph;
  /// Serialized FunctionProto / TrainingInfoProto entries, passed through untouched.
  std::vector<std::string> opaque_functions;
  std::vector<std::string> opaque_training_info;
  std::string unknown_fields;

  /// Version of `domain` ("" or "ai.onnx" for the default domain); 0 when not imported.
  int64_t opset_version(const std::string& domain = {}) const;
  /// Sets a metadata_props entry, replacing an existing key.
  void set_metadata(const std::string& key, const std::string& value);
};

}  // namespace scalec::ir
