#pragma once
// Human-readable dump of a graph, one line per node ("%y = Conv(%x, %w) {strides=[1, 1]}").
#include <ostream>
#include <string>

#include "ir/graph.h"

namespace scalec::ir {

/// Writes `graph` (and its subgraphs, indented) to `os`.
void print_graph(std::ostream& os, const Graph& graph, int indent = 0);
/// The whole model: header, opsets, then the graph.
std::string model_to_text(const Model& model);
/// One attribute value as text ("[1, 1]", "3.5", "<tensor float[64]>", "<graph body>").
std::string attribute_to_string(const Attribute& a);

}  // namespace scalec::ir
