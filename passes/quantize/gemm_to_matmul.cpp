#include "passes/quantize/gemm_to_matmul.h"

#include <fmt/format.h>

#include "ir/node_attrs.h"
#include "passes/core/pass_options.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes {

namespace {

bool convertible(const ir::Graph& g, const ir::Node& n) {
  const ir::Tensor* w = quant::float_weight(g, n.input(1));
  if (!w || w->rank() != 2 || ir::float_attr(n, "alpha", 1.0f) != 1.0f || ir::int_attr(n, "transA", 0) != 0) return false;
  return !n.input(2) || ir::float_attr(n, "beta", 1.0f) == 1.0f;
}

ir::Tensor transposed(const ir::Tensor& w) {
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  ir::Tensor t(ir::DType::kFloat, {cols, rows});
  auto src = w.values<float>();
  auto dst = t.mutable_values<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[static_cast<size_t>(c * rows + r)] = src[static_cast<size_t>(r * cols + c)];
  }
  return t;
}

}  // namespace

std::string GemmToMatMul::options_text() const {
  std::set<std::string> nodes = exclude_nodes_, ops = exclude_ops_;
  bool io = keep_io_float_;
  return OptionFields().add("exclude-nodes", nodes).add("exclude-ops", ops).add("keep-io-float", io).print();
}

std::string GemmToMatMul::run(ir::Model& model) {
  ir::Graph& g = *model.graph;
  std::vector<ir::Node*> todo;
  for (const auto& n : g.nodes()) {
    if (n->op_type() != "Gemm" || !n->domain().empty() || exclude_ops_.count("Gemm") || exclude_nodes_.count(n->name)) {
      continue;
    }
    if (keep_io_float_ && (quant::is_graph_input(g, n->input(0)) || quant::is_graph_output(g, n->output(0)))) continue;
    if (convertible(g, *n)) todo.push_back(n.get());
  }
  for (ir::Node* n : todo) {
    ir::Value* x = n->input(0);
    ir::Value* wv = n->input(1);
    ir::Value* c = n->input(2);
    const bool trans_b = ir::int_attr(*n, "transB", 0) != 0;
    ir::Value* w = trans_b ? g.add_initializer(g.unique_name(wv->name() + "_transposed"), transposed(*wv->initializer))
                           : wv;
    const std::string name = n->name;
    ir::Value* y = quant::remove_keeping_output(g, n);
    if (!c) {
      g.add_node("MatMul", {x, w}, {y})->name = name;
      continue;
    }
    ir::Value* t = g.create_value(g.unique_name(y->name() + "_matmul"));
    g.add_node("MatMul", {x, w}, {t})->name = name;
    g.add_node("Add", {t, c}, {y})->name = g.unique_name(name.empty() ? "Gemm_bias" : name + "_bias");
  }
  quant::remove_unused_initializers(g);
  g.sort_topologically();
  return fmt::format("gemm-to-matmul: {} Gemm node{} rewritten as MatMul + Add", todo.size(), todo.size() == 1 ? "" : "s");
}

}  // namespace scalec::passes
