#include "passes/cleanup/remove_dropout.h"

#include <algorithm>
#include <fmt/format.h>

namespace scalec::passes {

std::string RemoveDropout::run(ir::Model& model) {
  ir::Graph& g = *model.graph;
  std::vector<ir::Node*> dropouts;
  for (const auto& n : g.nodes()) {
    if (n->op_type() != "Dropout" || !n->domain().empty() || n->input(0) == nullptr || n->output(0) == nullptr) continue;
    const ir::Value* mask = n->output(1);
    if (mask && (!mask->uses().empty() || std::count(g.outputs.begin(), g.outputs.end(), mask))) continue;
    dropouts.push_back(n.get());
  }
  std::vector<ir::Value*> orphans;  // ratio / training_mode initializers only these Dropouts read
  for (ir::Node* n : dropouts) {
    for (size_t i : {1u, 2u}) {
      if (n->input(i) && n->input(i)->is_initializer()) orphans.push_back(n->input(i));
    }
    ir::Value* x = n->input(0);
    ir::Value* y = n->output(0);
    auto out = std::find(g.outputs.begin(), g.outputs.end(), y);
    if (out == g.outputs.end()) {
      g.replace_all_uses(y, x);
      g.remove_node(n);
      continue;
    }
    // y names a graph output: keep the name, computed by an Identity instead.
    const size_t index = static_cast<size_t>(out - g.outputs.begin());
    g.outputs.erase(out);
    g.replace_all_uses(y, x);
    std::string name = n->name;
    g.remove_node(n);
    g.add_node("Identity", {x}, {y})->name = name;
    g.outputs.insert(g.outputs.begin() + static_cast<std::ptrdiff_t>(index), y);
  }
  std::erase_if(g.initializers, [&](ir::Value* v) {
    return v->uses().empty() && std::count(orphans.begin(), orphans.end(), v) &&
           !std::count(g.inputs.begin(), g.inputs.end(), v) && !std::count(g.outputs.begin(), g.outputs.end(), v);
  });
  g.remove_unused_values();
  g.sort_topologically();
  const size_t removed = dropouts.size();
  return fmt::format("remove-dropout: {} Dropout node{} removed", removed, removed == 1 ? "" : "s");
}

}  // namespace scalec::passes
