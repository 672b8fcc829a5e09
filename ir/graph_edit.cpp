#include "ir/graph_edit.h"

#include <algorithm>

namespace scalec::ir {

void bypass(Graph& graph, Node* node, Value* replacement) {
  Value* y = node->output(0);
  auto out = std::find(graph.outputs.begin(), graph.outputs.end(), y);
  if (out == graph.outputs.end()) {
    graph.replace_all_uses(y, replacement);
    graph.remove_node(node);
    return;
  }
  // y names a graph output: take it out of the list first so replace_all_uses leaves it alone.
  const auto index = out - graph.outputs.begin();
  graph.outputs.erase(out);
  graph.replace_all_uses(y, replacement);
  const std::string name = node->name;
  graph.remove_node(node);
  graph.add_node("Identity", {replacement}, {y})->name = name;
  graph.outputs.insert(graph.outputs.begin() + index, y);
}

}  // namespace scalec::ir
