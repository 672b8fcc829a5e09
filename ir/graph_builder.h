#pragma once
// GraphBuilder: terse construction of graphs in tests and passes.
#include <initializer_list>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::ir {

/// Builds nodes into a graph, naming outputs automatically ("Relu_0", "Conv_1", ...).
class GraphBuilder {
 public:
  explicit GraphBuilder(Graph& graph) : g_(graph) {}

  Value* input(const std::string& name, DType dtype, std::vector<Dim> dims);
  Value* input(const std::string& name, DType dtype, const std::vector<int64_t>& dims);
  Value* initializer(const std::string& name, Tensor t);
  /// Adds a node with one output and returns it.
  Value* op(const std::string& op_type, const std::vector<Value*>& inputs, std::vector<Attribute> attrs = {});
  /// Adds a node with `n_outputs` outputs.
  std::vector<Value*> op_n(const std::string& op_type, const std::vector<Value*>& inputs, size_t n_outputs,
                           std::vector<Attribute> attrs = {});
  /// Marks `v` as a graph output, optionally recording its type.
  void output(Value* v, std::optional<TypeInfo> type = std::nullopt);
  /// The node built last.
  Node* last_node() const { return last_; }

  static Attribute attr(const std::string& name, int64_t v);
  static Attribute attr(const std::string& name, float v);
  static Attribute attr(const std::string& name, const std::string& v);
  static Attribute attr(const std::string& name, std::vector<int64_t> v);
  static Attribute attr(const std::string& name, Tensor v);

 private:
  Graph& g_;
  Node* last_ = nullptr;
  int counter_ = 0;
};

}  // namespace scalec::ir
