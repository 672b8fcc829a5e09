#pragma once
// Typed attribute readers for ir::Node, the one implementation passes and kernels share: the
// attribute's value, or `fallback` when the node has none; a stored attribute of another kind is
// Error(kBadInput) naming op, node and attribute. (Free functions, so graph.h stays untouched.)
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::ir {

int64_t int_attr(const Node& node, const std::string& name, int64_t fallback);
/// Accepts an int attribute too (some exporters write `alpha: 1`).
float float_attr(const Node& node, const std::string& name, float fallback);
std::string string_attr(const Node& node, const std::string& name, const std::string& fallback = {});
std::vector<int64_t> ints_attr(const Node& node, const std::string& name, std::vector<int64_t> fallback = {});
std::vector<float> floats_attr(const Node& node, const std::string& name, std::vector<float> fallback = {});

/// "[Conv node 'conv1']": the prefix of messages about `node`.
std::string node_label(const Node& node);

}  // namespace scalec::ir
