#include "passes/quantize/subgraph_layers.h"

namespace scalec::passes::quant {

namespace {

const std::set<std::string> kLayerOps = {"Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN"};

// Float weight elements of a layer: input 1 (the weight), and for LSTM/GRU/RNN inputs 1 and 2 (W and R).
int64_t weight_params(const ir::Node& n) {
  int64_t params = 0;
  const size_t last = n.op_type() == "LSTM" || n.op_type() == "GRU" || n.op_type() == "RNN" ? 3 : 2;
  for (size_t i = 1; i < last && i < n.inputs().size(); ++i) {
    const ir::Value* v = n.input(i);
    if (v && v->initializer && v->initializer->dtype() == ir::DType::kFloat) params += v->initializer->numel();
  }
  return params;
}

int64_t walk(const ir::Graph& g, bool inside, const std::set<std::string>& only_ops, Coverage& coverage) {
  int64_t added = 0;
  for (const auto& n : g.nodes()) {
    if (inside && n->domain().empty() && kLayerOps.count(n->op_type()) && (only_ops.empty() || only_ops.count(n->op_type()))) {
      if (const int64_t params = weight_params(*n); params > 0) {
        coverage.add(n->name.empty() ? n->op_type() + " in " + g.name : n->name, params, false,
                     "inside an If/Loop/Scan body (quantize does not descend into subgraphs yet)");
        ++added;
      }
    }
    for (const ir::Attribute& a : n->attributes()) {
      if (a.kind == ir::Attribute::Kind::kGraph && a.g) added += walk(*a.g, true, only_ops, coverage);
      for (const auto& sg : a.graphs) added += walk(*sg, true, only_ops, coverage);
    }
  }
  return added;
}

}  // namespace

int64_t add_subgraph_layers(const ir::Model& model, const std::set<std::string>& only_ops, Coverage& coverage) {
  return walk(*model.graph, false, only_ops, coverage);
}

}  // namespace scalec::passes::quant
