#include "passes/cleanup/remove_dropout.h"

#include <algorithm>
#include <fmt/format.h>

#include "ir/graph_edit.h"

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
    ir::bypass(g, n, n->input(0));
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
