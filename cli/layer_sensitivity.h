#pragma once
// Per-layer sensitivity, shared by `scalec sensitivity` and `scalec quantize --target-drop`: each
// layer quantized alone (QDQ, activations calibrated once), the model evaluated against the float
// model's outputs, the layers ranked most sensitive first.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/dataset.h"
#include "cli/model_compare.h"
#include "ir/graph.h"
#include "passes/quantize/qdq_pass.h"

namespace scalec::cli {

/// What one evaluation of a model over the data measured against the reference outputs.
struct EvalRun {
  int64_t correct = 0, agree = 0, rows = 0;  ///< top-1 right (with labels); top-1 equal to the reference's, of rows
  Sqnr sqnr;
};

/// One layer's figures with only it quantized or pruned.
struct LayerScore {
  std::string layer, op, weight;
  int64_t params = 0;
  EvalRun run;
};

/// Gives every node a name of its own (in memory), so that exclusion by node name can single out
/// one layer even in exports that leave names empty or repeat them.
void name_nodes_uniquely(ir::Graph& g);

/// Runs `model` over `data` in `ranges`; output `output` of each run is appended to `keep` when
/// given, else set against `ref` (the reference's, run by run). Error(kBadInput) when labels need
/// [N, classes] scores the output does not have.
EvalRun evaluate_runs(const ir::Model& model, const Dataset& data, const std::vector<std::pair<int64_t, int64_t>>& ranges,
                      const std::string& output, int threads, std::vector<ir::Tensor>* keep,
                      const std::vector<ir::Tensor>* ref);

/// Each layer of `model` (named uniquely, opsets upgraded as `q` needs) quantized alone with `q`
/// (its ranges calibrated on the float model), evaluated against `reference`; a layer that cannot be
/// quantized is appended to `skipped` as {layer, reason}. `source` names the model for messages.
std::vector<LayerScore> quantize_each_layer(ir::Model& model, const std::string& source, const passes::QdqOptions& q,
                                            const Dataset& data, const std::vector<std::pair<int64_t, int64_t>>& ranges,
                                            const std::string& output, int threads, const std::vector<ir::Tensor>& reference,
                                            nlohmann::json& skipped);

/// Sorts most sensitive first: most top-1 answers lost (with labels), then the lowest output SQNR.
void rank_layers(std::vector<LayerScore>& layers, bool labels);

}  // namespace scalec::cli
