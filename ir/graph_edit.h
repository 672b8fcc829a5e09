#pragma once
// Graph edits several passes share (remove-dropout, fold-batchnorm).
#include "ir/graph.h"

namespace scalec::ir {

/// Removes `node` (its other outputs unused), its output 0's readers reading `replacement`
/// instead; when output 0 is a graph output its name stays, computed by an Identity of
/// `replacement` that takes the node's name (so outputs keep their names and order).
void bypass(Graph& graph, Node* node, Value* replacement);

}  // namespace scalec::ir
