#include "ir/graph.h"

#include <algorithm>
#include <queue>
#include <unordered_set>
#include <utility>

#include "ir/error.h"

namespace scalec::ir {

namespace {
bool is_ancestor_or_self(const Graph* maybe_ancestor, const Graph* g) {
  for (; g != nullptr; g = g->parent()) {
    if (g == maybe_ancestor) return true;
  }
  return false;
}

// Calls f(node) for every node of the subgraphs held by `node`'s attributes, recursively.
template <typename F>
void for_each_subgraph_node(const Node& node, F&& f) {
  for (const Attribute& a : node.attributes()) {
    auto visit = [&](const std::shared_ptr<Graph>& g) {
      if (!g) return;
      for (const auto& n : g->nodes()) {
        f(*n);
        for_each_subgraph_node(*n, f);
      }
    };
    visit(a.g);
    for (const auto& g : a.graphs) visit(g);
  }
}
// Calls f(graph) for every subgraph held by `node`'s attributes, recursively.
template <typename F>
void for_each_subgraph(const Node& node, F&& f) {
  for (const Attribute& a : node.attributes()) {
    auto visit = [&](const std::shared_ptr<Graph>& g) {
      if (!g) return;
      f(*g);
      for (const auto& n : g->nodes()) for_each_subgraph(*n, f);
    };
    visit(a.g);
    for (const auto& g : a.graphs) visit(g);
  }
}
}  // namespace

// ---- Node -----------------------------------------------------------------------------------

void Node::drop_use(Value* v, Node* node, size_t index) {
  if (v == nullptr) return;
  auto it = std::find(v->uses_.begin(), v->uses_.end(), Use{node, index});
  if (it != v->uses_.end()) v->uses_.erase(it);
}

void Node::set_input(size_t i, Value* v) {
  if (i >= inputs_.size()) inputs_.resize(i + 1, nullptr);
  Node::drop_use(inputs_[i], this, i);
  inputs_[i] = v;
  if (v) v->uses_.push_back({this, i});
}

void Node::add_input(Value* v) {
  inputs_.push_back(v);
  if (v) v->uses_.push_back({this, inputs_.size() - 1});
}

const Attribute* Node::attribute(const std::string& attr_name) const {
  for (const auto& a : attributes_) {
    if (a.name == attr_name) return &a;
  }
  return nullptr;
}

Attribute* Node::mutable_attribute(const std::string& attr_name) {
  return const_cast<Attribute*>(std::as_const(*this).attribute(attr_name));
}

void Node::set_attribute(Attribute a) {
  if (Attribute* existing = mutable_attribute(a.name)) {
    *existing = std::move(a);
  } else {
    attributes_.push_back(std::move(a));
  }
}

// ---- Graph ----------------------------------------------------------------------------------

Graph::Graph(std::string graph_name, Graph* parent) : name(std::move(graph_name)), parent_(parent) {}

Graph::~Graph() {
  // Detach this graph's uses of outer values, which outlive it.
  for (const auto& n : nodes_) {
    for (size_t i = 0; i < n->inputs_.size(); ++i) {
      Value* v = n->inputs_[i];
      if (v && v->owner_ != this) Node::drop_use(v, n.get(), i);
    }
  }
}

Value* Graph::create_value(const std::string& value_name) {
  auto v = std::make_unique<Value>();
  v->name_ = value_name;
  v->owner_ = this;
  Value* raw = v.get();
  values_.push_back(std::move(v));
  by_name_.emplace(value_name, raw);  // keeps the first on duplicates
  return raw;
}

Value* Graph::find_value(const std::string& value_name) const {
  auto it = by_name_.find(value_name);
  return it == by_name_.end() ? nullptr : it->second;
}

Value* Graph::lookup(const std::string& value_name) const {
  for (const Graph* g = this; g != nullptr; g = g->parent_) {
    if (Value* v = g->find_value(value_name)) return v;
  }
  return nullptr;
}

std::string Graph::unique_name(const std::string& base) const {
  if (!lookup(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!lookup(candidate)) return candidate;
  }
}

Node* Graph::add_node(const std::string& op_type, const std::vector<Value*>& node_inputs,
                      const std::vector<Value*>& node_outputs, const std::string& domain) {
  return insert_node_before(nullptr, op_type, node_inputs, node_outputs, domain);
}

Node* Graph::insert_node_before(const Node* pos, const std::string& op_type,
                                const std::vector<Value*>& node_inputs,
                                const std::vector<Value*>& node_outputs, const std::string& domain) {
  auto node = std::make_unique<Node>();
  node->op_type_ = op_type;
  node->domain_ = domain;
  node->owner_ = this;
  Node* raw = node.get();
  for (Value* v : node_inputs) raw->add_input(v);
  for (size_t i = 0; i < node_outputs.size(); ++i) {
    Value* out = node_outputs[i];
    if (out != nullptr) {
      if (out->owner_ != this) throw_internal("node output '{}' belongs to another graph", out->name());
      // A second producer is recorded only if none exists; the verifier reports the clash.
      if (out->producer_ == nullptr) {
        out->producer_ = raw;
        out->producer_index_ = i;
      }
    }
    raw->outputs_.push_back(out);
  }
  auto it = nodes_.end();
  if (pos != nullptr) {
    it = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& n) { return n.get() == pos; });
  }
  nodes_.insert(it, std::move(node));
  return raw;
}

void Graph::remove_node(Node* node) {
  for (Value* out : node->outputs_) {  // check everything before changing anything
    if (out == nullptr) continue;
    if (!out->uses_.empty()) {
      throw_internal("cannot remove node '{}' ({}): output '{}' still has {} uses", node->name,
                     node->op_type(), out->name(), out->uses_.size());
    }
    if (is_graph_output_anywhere(out)) {
      throw_internal("cannot remove node '{}': output '{}' is a graph output", node->name, out->name());
    }
  }
  auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& n) { return n.get() == node; });
  if (it == nodes_.end()) throw_internal("remove_node: node is not in graph '{}'", name);
  for (Value* out : node->outputs_) {
    if (out != nullptr && out->producer_ == node) out->producer_ = nullptr;
  }
  for (size_t i = 0; i < node->inputs_.size(); ++i) Node::drop_use(node->inputs_[i], node, i);
  nodes_.erase(it);  // subgraph destructors detach their outer-scope uses
}

bool Graph::is_graph_output_anywhere(const Value* v) const {
  if (std::find(outputs.begin(), outputs.end(), v) != outputs.end()) return true;
  bool found = false;
  for (const auto& n : nodes_) {
    for_each_subgraph(*n, [&](const Graph& sub) {
      found = found || std::find(sub.outputs.begin(), sub.outputs.end(), v) != sub.outputs.end();
    });
  }
  return found;
}

void Graph::replace_all_uses(Value* from, Value* to) {
  if (from == to) return;
  std::vector<Use> uses = from->uses_;
  for (const Use& u : uses) u.node->set_input(u.input_index, to);
  std::replace(outputs.begin(), outputs.end(), from, to);
  // A subgraph may return an outer value directly as one of its outputs.
  for (const auto& n : nodes_) {
    for_each_subgraph(*n, [&](Graph& sub) { std::replace(sub.outputs.begin(), sub.outputs.end(), from, to); });
  }
}

void Graph::remove_unused_values() {
  std::unordered_set<const Value*> listed(inputs.begin(), inputs.end());
  listed.insert(outputs.begin(), outputs.end());
  listed.insert(initializers.begin(), initializers.end());
  std::erase_if(values_, [&](const std::unique_ptr<Value>& v) {
    bool dead = v->producer_ == nullptr && v->uses_.empty() && !listed.count(v.get());
    if (dead) {
      auto it = by_name_.find(v->name_);
      if (it != by_name_.end() && it->second == v.get()) by_name_.erase(it);
    }
    return dead;
  });
  // Restore the name index for any duplicate that survived its erased twin.
  for (const auto& v : values_) by_name_.emplace(v->name_, v.get());
}

Value* Graph::add_initializer(const std::string& value_name, Tensor t) {
  Value* v = create_value(value_name);
  v->initializer = std::move(t);
  initializers.push_back(v);
  return v;
}

std::vector<Node*> Graph::topological_order() const {
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i].get()] = i;

  // Dependencies of each node: producers in this graph of its inputs and of the outer-scope
  // values its subgraphs read.
  std::vector<std::vector<size_t>> consumers(nodes_.size());
  std::vector<size_t> pending(nodes_.size(), 0);
  auto depend = [&](size_t consumer, const Value* v) {
    if (v == nullptr || v->owner_ != this || v->producer_ == nullptr) return;
    auto it = index.find(v->producer_);
    if (it == index.end()) return;
    consumers[it->second].push_back(consumer);
    ++pending[consumer];
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = *nodes_[i];
    for (const Value* v : n.inputs_) depend(i, v);
    for_each_subgraph_node(n, [&](const Node& inner) {
      for (const Value* v : inner.inputs()) depend(i, v);
    });
    for_each_subgraph(n, [&](const Graph& sub) {
      for (const Value* v : sub.outputs) depend(i, v);
    });
  }

  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<Node*> order;
  order.reserve(nodes_.size());
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(nodes_[i].get());
    for (size_t c : consumers[i]) {
      if (--pending[c] == 0) ready.push(c);
    }
  }
  if (order.size() != nodes_.size()) {
    // Every node still pending has a pending producer; walking back through them must repeat,
    // and the first repeated node lies on a cycle.
    std::vector<std::vector<size_t>> producers(nodes_.size());
    for (size_t p = 0; p < nodes_.size(); ++p) {
      for (size_t c : consumers[p]) {
        if (pending[p] > 0) producers[c].push_back(p);
      }
    }
    size_t at = 0;
    while (pending[at] == 0) ++at;
    std::vector<bool> seen(nodes_.size(), false);
    while (!seen[at]) {
      seen[at] = true;
      at = producers[at].front();
    }
    const Node& n = *nodes_[at];
    throw_bad_input("graph '{}' has a cycle through node '{}' ({})", name, n.name, n.op_type());
  }
  return order;
}

void Graph::sort_topologically() {
  std::vector<Node*> order = topological_order();
  std::unordered_map<const Node*, size_t> rank;
  for (size_t i = 0; i < order.size(); ++i) rank[order[i]] = i;
  std::stable_sort(nodes_.begin(), nodes_.end(),
                   [&](const auto& a, const auto& b) { return rank[a.get()] < rank[b.get()]; });
}

std::vector<Value*> Graph::outer_scope_values() const {
  std::vector<Value*> result;
  std::unordered_set<Value*> seen;
  auto visit = [&](const Node& n) {
    for (Value* v : n.inputs()) {
      if (v && v->owner_ != nullptr && v->owner_ != this && is_ancestor_or_self(v->owner_, parent_) &&
          seen.insert(v).second) {
        result.push_back(v);
      }
    }
  };
  auto visit_outputs = [&](const Graph& sub) {
    for (Value* v : sub.outputs) {
      if (v && v->owner_ != this && is_ancestor_or_self(v->owner_, parent_) && seen.insert(v).second) {
        result.push_back(v);
      }
    }
  };
  for (const auto& n : nodes_) {
    visit(*n);
    for_each_subgraph_node(*n, visit);
    for_each_subgraph(*n, visit_outputs);
  }
  visit_outputs(*this);
  return result;
}

// ---- Model ----------------------------------------------------------------------------------

int64_t Model::opset_version(const std::string& dom) const {
  bool want_default = dom.empty() || dom == "ai.onnx";
  for (const auto& o : opset_imports) {
    bool is_default = o.domain.empty() || o.domain == "ai.onnx";
    if ((want_default && is_default) || (!want_default && o.domain == dom)) return o.version;
  }
  return 0;
}

void Model::set_metadata(const std::string& key, const std::string& value) {
  for (auto& [k, v] : metadata_props) {
    if (k == key) {
      v = value;
      return;
    }
  }
  metadata_props.emplace_back(key, value);
}

}  // namespace scalec::ir
