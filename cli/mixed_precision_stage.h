#pragma once
// `scalec quantize --target-drop P` inside the quantize stage: the checks, the search over per-layer
// bits (cli/mixed_precision.h) with real quantize runs of the stage's own pipeline measured on --val
// (cli/top1_drop.h), and the report section.
#include <optional>
#include <set>
#include <string>

#include "cli/mixed_precision.h"
#include "cli/stage.h"
#include "passes/core/pass_context.h"
#include "passes/quantize/quantize_pipeline.h"

namespace scalec::cli {

/// What the search needs from the stage.
struct MixedPrecisionSetup {
  passes::QuantizeSettings settings;  ///< the command's; layer_bits and float exclusions are added
  double target = 0;                  ///< points
  EvalSpec eval;                      ///< --val, labels, output, batch, threads
  const passes::PassContext& context; ///< calibration batches, threads, verify_each
  std::string source;                 ///< the input file, for messages
};

/// The settings chosen and the search's figures.
struct MixedPrecisionOutcome {
  passes::QuantizeSettings settings;
  MixedPrecisionResult result;
  double target = 0;
  std::string measure;  ///< "accuracy" or "agreement"
  std::optional<double> accuracy_before, accuracy_after;
  std::set<std::string> layers;  ///< Conv/ConvTranspose/Gemm/MatMul node names of the model
};

/// Error(kUsage) unless --target-drop can run: qdq or qoperator with --calib, --val, no --gptq.
void check_target_drop_options(const passes::QuantizeSettings& s, const std::string& calib, const std::string& val);

/// Chooses per-layer bits for `model` (the canonicalized input, quantized by the caller afterwards
/// with the returned settings; nodes get unique names first when layers lack them). `original` is
/// the reference the drop is measured against.
MixedPrecisionOutcome choose_layer_bits(ir::Model& model, const ir::Model& original, const MixedPrecisionSetup& setup);

/// Adds `mixed_precision` to the report, the bits per layer to the text, accuracies for the gates,
/// and target_missed when the target was not reached. `quantized` lists the layers the final run quantized.
void add_mixed_precision(const MixedPrecisionOutcome& m, const std::vector<std::string>& quantized, StageResult& r);

}  // namespace scalec::cli
