#pragma once
// Terse node attributes for test case tables (shape rules, gradient checks): attr_i("axis", 1)
// instead of ir::GraphBuilder::attr("axis", int64_t{1}). Lists get their own names, so a one-element
// list is never read as a single value.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph_builder.h"

namespace scalec::test {

/// An int attribute.
inline ir::Attribute attr_i(const std::string& name, int64_t v) { return ir::GraphBuilder::attr(name, v); }
/// An ints attribute.
inline ir::Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
  return ir::GraphBuilder::attr(name, std::move(v));
}
/// A float attribute.
inline ir::Attribute attr_f(const std::string& name, float v) { return ir::GraphBuilder::attr(name, v); }
/// A floats attribute (GraphBuilder has no overload for it).
inline ir::Attribute attr_floats(const std::string& name, std::vector<float> v) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kFloats;
  a.floats = std::move(v);
  return a;
}
/// A string attribute.
inline ir::Attribute attr_s(const std::string& name, const std::string& v) { return ir::GraphBuilder::attr(name, v); }
/// A tensor attribute.
inline ir::Attribute attr_t(const std::string& name, ir::Tensor v) {
  return ir::GraphBuilder::attr(name, std::move(v));
}

}  // namespace scalec::test
