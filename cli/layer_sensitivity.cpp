#include "cli/layer_sensitivity.h"

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "kernels/exec/executor.h"
#include "onnx_io/model_io.h"
#include "passes/quantize/quant_layers.h"

namespace scalec::cli {

namespace {

double sort_db(const Sqnr& s) {
  return s.nonfinite_mismatches > 0 ? -std::numeric_limits<double>::infinity() : s.db();
}

}  // namespace

void name_nodes_uniquely(ir::Graph& g) {
  std::set<std::string> taken;
  for (const auto& n : g.nodes()) {
    std::string base = n->name.empty() ? (n->output(0) ? n->output(0)->name() : n->op_type()) : n->name;
    std::string name = base;
    for (int k = 2; taken.contains(name); ++k) name = fmt::format("{}_{}", base, k);
    n->name = name;
    taken.insert(name);
  }
}

EvalRun evaluate_runs(const ir::Model& model, const Dataset& data, const std::vector<std::pair<int64_t, int64_t>>& ranges,
                      const std::string& output, int threads, std::vector<ir::Tensor>* keep,
                      const std::vector<ir::Tensor>* ref) {
  kernels::ExecutorOptions eo;
  eo.threads = threads;
  kernels::Executor exec(model, eo);
  const int64_t index = output_index(model, output);
  if (index < 0) throw_internal("output '{}' vanished from the model", output);
  EvalRun r;
  size_t run = 0;
  for (auto [begin, end] : ranges) {
    kernels::NamedTensors outs = exec.run(batch_of(data, begin, end));
    const ir::Tensor& y = outs[static_cast<size_t>(index)].second;
    const bool classes = y.rank() == 2 && y.shape()[1] > 0;
    if (data.labels) {
      if (!classes || y.shape()[0] != end - begin) {
        throw_bad_input("output '{}' has shape {}; accuracy needs [N, classes] scores, one row per sample (--output picks "
                        "another output)", output, ir::shape_to_string(y.shape()));
      }
      r.correct += top1_correct(y, *data.labels, begin);
    }
    if (ref) {
      const ir::Tensor& x = (*ref)[run];
      if (x.shape() != y.shape() || !comparable_float(y.dtype())) {
        throw_internal("output '{}' changed shape or type when one layer was changed", output);
      }
      r.sqnr.add(x, y);
      if (classes) {
        const std::vector<int64_t> a = argmax_axis1(x), b = argmax_axis1(y);
        for (size_t i = 0; i < a.size(); ++i) r.agree += a[i] == b[i];
        r.rows += y.shape()[0];
      }
    }
    if (keep) {
      if (!comparable_float(y.dtype())) throw_bad_input("output '{}' is {}, not float: SQNR needs float outputs", output, ir::dtype_name(y.dtype()));
      keep->push_back(std::move(outs[static_cast<size_t>(index)].second));
    }
    ++run;
  }
  return r;
}

std::vector<LayerScore> quantize_each_layer(ir::Model& model, const std::string& source, const passes::QdqOptions& q,
                                            const Dataset& data, const std::vector<std::pair<int64_t, int64_t>>& ranges,
                                            const std::string& output, int threads, const std::vector<ir::Tensor>& reference,
                                            nlohmann::json& skipped) {
  const std::string bytes = onnx_io::serialize_model(model);
  passes::quant::ValueTypes types(model);
  std::vector<std::string> node_names;
  for (const auto& n : model.graph->nodes()) node_names.push_back(n->name);
  std::vector<LayerScore> results;
  for (ir::Node* n : model.graph->topological_order()) {
    if (!passes::quant::is_layer_op(*n)) continue;
    std::string why = passes::layer_float_reason(*model.graph, types, n, q);
    if (why.empty() && passes::quant::is_activation_matmul(*model.graph, types, *n)) why = "no weight (a MatMul of two activations)";
    if (!why.empty()) {
      skipped.push_back({{"layer", n->name}, {"reason", why}});
      continue;
    }
    ir::Model variant = onnx_io::load_model_from_bytes(bytes, ".", source);
    passes::QdqOptions one = q;
    for (const std::string& name : node_names) {
      if (name != n->name) one.exclude_nodes.insert(name);
    }
    passes::QuantizeQdq pass(one);
    spdlog::debug("{}: {}", n->name, pass.run(variant));
    if (pass.report().weights_quantized != 1) {
      skipped.push_back({{"layer", n->name}, {"reason", "the pass left it float"}});
      continue;
    }
    LayerScore r{n->name, n->op_type(), n->input(1)->name(), passes::quant::layer_params(*model.graph, *n), {}};
    r.run = evaluate_runs(variant, data, ranges, output, threads, nullptr, &reference);
    results.push_back(std::move(r));
  }
  return results;
}

void rank_layers(std::vector<LayerScore>& layers, bool labels) {
  std::stable_sort(layers.begin(), layers.end(), [&](const LayerScore& a, const LayerScore& b) {
    if (labels && a.run.correct != b.run.correct) return a.run.correct < b.run.correct;  // most accuracy lost first
    return sort_db(a.run.sqnr) < sort_db(b.run.sqnr);
  });
}

}  // namespace scalec::cli
