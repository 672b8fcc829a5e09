#include "io/model_equal.h"

#include <cstring>

#include <fmt/format.h>

namespace scalec::test {

namespace {

std::string graph_difference(const ir::Graph& a, const ir::Graph& b);

std::string names(const std::vector<ir::Value*>& vs) {
  std::string s;
  for (const ir::Value* v : vs) s += (v ? v->name() : std::string("<none>")) + ",";
  return s;
}

std::string attribute_difference(const ir::Attribute& x, const ir::Attribute& y) {
  if (x.name != y.name || x.kind != y.kind) return fmt::format("attribute {} vs {}", x.name, y.name);
  bool same = x.i == y.i && x.s == y.s && x.ints == y.ints && x.strings == y.strings && x.opaque == y.opaque &&
              x.ref_attr_name == y.ref_attr_name && x.floats.size() == y.floats.size() &&
              x.tensors.size() == y.tensors.size() && x.graphs.size() == y.graphs.size() &&
              x.t.has_value() == y.t.has_value() && (x.g != nullptr) == (y.g != nullptr);
  // Floats compare bitwise so NaN attributes round-trip too.
  same = same && std::memcmp(&x.f, &y.f, sizeof x.f) == 0;
  for (size_t i = 0; same && i < x.floats.size(); ++i) same = std::memcmp(&x.floats[i], &y.floats[i], 4) == 0;
  if (same && x.t) same = x.t->equals(*y.t);
  for (size_t i = 0; same && i < x.tensors.size(); ++i) same = x.tensors[i].equals(y.tensors[i]);
  if (!same) return fmt::format("attribute '{}' differs", x.name);
  if (x.g) {
    if (auto d = graph_difference(*x.g, *y.g); !d.empty()) return d;
  }
  for (size_t i = 0; i < x.graphs.size(); ++i) {
    if (auto d = graph_difference(*x.graphs[i], *y.graphs[i]); !d.empty()) return d;
  }
  return {};
}

std::string graph_difference(const ir::Graph& a, const ir::Graph& b) {
  if (a.name != b.name) return fmt::format("graph name {} vs {}", a.name, b.name);
  if (names(a.inputs) != names(b.inputs)) return fmt::format("graph '{}' inputs differ", a.name);
  if (names(a.outputs) != names(b.outputs)) return fmt::format("graph '{}' outputs differ", a.name);
  if (names(a.initializers) != names(b.initializers)) return fmt::format("graph '{}' initializers differ", a.name);
  for (size_t i = 0; i < a.initializers.size(); ++i) {
    if (!a.initializers[i]->initializer->equals(*b.initializers[i]->initializer)) {
      return fmt::format("initializer '{}' differs", a.initializers[i]->name());
    }
  }
  for (const auto& v : a.values()) {
    const ir::Value* w = b.find_value(v->name());
    if (w == nullptr) return fmt::format("value '{}' missing", v->name());
    if (v->type != w->type) return fmt::format("type of '{}' differs", v->name());
  }
  if (a.nodes().size() != b.nodes().size()) return fmt::format("graph '{}' node count differs", a.name);
  for (size_t i = 0; i < a.nodes().size(); ++i) {
    const ir::Node& x = *a.nodes()[i];
    const ir::Node& y = *b.nodes()[i];
    if (x.op_type() != y.op_type() || x.domain() != y.domain() || x.name != y.name) {
      return fmt::format("node {} differs: {} vs {}", i, x.op_type(), y.op_type());
    }
    if (names(x.inputs()) != names(y.inputs()) || names(x.outputs()) != names(y.outputs())) {
      return fmt::format("node '{}' wiring differs", x.name);
    }
    if (x.attributes().size() != y.attributes().size()) return fmt::format("node '{}' attribute count", x.name);
    for (size_t k = 0; k < x.attributes().size(); ++k) {
      if (auto d = attribute_difference(x.attributes()[k], y.attributes()[k]); !d.empty()) {
        return fmt::format("node '{}': {}", x.name, d);
      }
    }
  }
  return {};
}

}  // namespace

std::string model_difference(const ir::Model& a, const ir::Model& b) {
  if (a.ir_version != b.ir_version) return "ir_version differs";
  if (a.opset_imports != b.opset_imports) return "opset imports differ";
  if (a.producer_name != b.producer_name || a.producer_version != b.producer_version) return "producer differs";
  auto strip = [](auto props) {
    std::erase_if(props, [](const auto& kv) { return kv.first == "scalec.version"; });
    return props;
  };
  if (strip(a.metadata_props) != strip(b.metadata_props)) return "metadata differs";
  if (a.opaque_functions != b.opaque_functions) return "functions differ";
  return graph_difference(*a.graph, *b.graph);
}

}  // namespace scalec::test
