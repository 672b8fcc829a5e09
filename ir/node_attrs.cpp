#include "ir/node_attrs.h"

#include <initializer_list>

#include "ir/error.h"

namespace scalec::ir {

namespace {
// The attribute `name` of `n` when present; Error(kBadInput) when the model stored another kind.
const Attribute* attribute_of_kind(const Node& n, const std::string& name, std::initializer_list<Attribute::Kind> kinds,
                                   const char* what) {
  const Attribute* a = n.attribute(name);
  if (a == nullptr) return nullptr;
  for (auto k : kinds) {
    if (a->kind == k) return a;
  }
  throw_bad_input("{} attribute '{}' must be {}", node_label(n), name, what);
}
}  // namespace

int64_t int_attr(const Node& node, const std::string& name, int64_t fallback) {
  const Attribute* a = attribute_of_kind(node, name, {Attribute::Kind::kInt}, "an int");
  return a ? a->i : fallback;
}

float float_attr(const Node& node, const std::string& name, float fallback) {
  const Attribute* a = attribute_of_kind(node, name, {Attribute::Kind::kFloat, Attribute::Kind::kInt}, "a float");
  if (a && a->kind == Attribute::Kind::kInt) return static_cast<float>(a->i);
  return a ? a->f : fallback;
}

std::string string_attr(const Node& node, const std::string& name, const std::string& fallback) {
  const Attribute* a = attribute_of_kind(node, name, {Attribute::Kind::kString}, "a string");
  return a ? a->s : fallback;
}

std::vector<int64_t> ints_attr(const Node& node, const std::string& name, std::vector<int64_t> fallback) {
  const Attribute* a = attribute_of_kind(node, name, {Attribute::Kind::kInts}, "a list of ints");
  return a ? a->ints : fallback;
}

std::vector<float> floats_attr(const Node& node, const std::string& name, std::vector<float> fallback) {
  const Attribute* a = attribute_of_kind(node, name, {Attribute::Kind::kFloats}, "a list of floats");
  return a ? a->floats : fallback;
}

std::string node_label(const Node& node) { return fmt::format("[{} node '{}']", node.op_type(), node.name); }

}  // namespace scalec::ir
