#pragma once
// scalec quantize --qat: quantization-aware training on the ONNX graph. Calibrates and quantizes as
// --format qdq does, turns the Q/DQ pairs into FakeQuantize nodes (passes/quantize/fake_quant_graph.h),
// trains weights (and with --learn-scales the scales) with the finetune trainer while activation
// ranges follow the batches (distill/qat_ranges.h), and exports the same QDQ graph with the trained
// numbers.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/stage.h"
#include "distill/trainer.h"
#include "passes/quantize/quantize_pipeline.h"

namespace scalec::cli {

/// The options --qat adds to quantize.
struct QatOptions {
  bool enabled = false;
  std::string data;
  int64_t epochs = 1;
  int64_t calib_batch = 32;
  std::optional<int64_t> freeze_ranges_after;  ///< default: half the run
  std::optional<int64_t> freeze_bn_after;      ///< BatchNorm in fake-quant form uses running statistics from then on; default: half the run
  bool learn_scales = false;
  bool distill = false;                        ///< the float model as teacher (trainer.temperature, distill_alpha)
  distill::TrainerOptions trainer;             ///< the optimizer options; batch, output, threads from quantize's
  /// The options that mean nothing without --qat (refused then) that the command line gave, by name:
  /// recorded when parsing completes (scalec run's parser is gone by the time the stage checks).
  std::vector<std::string> qat_given;
};

/// What quantize --qat shares with plain quantize: its data, labels, logits output, batch and threads.
struct QatInputs {
  std::string calib, val, labels, output;
  int64_t batch = 32;          ///< with --qat: the training batch
  int64_t calib_samples = 0;   ///< 0: all of --calib (without --calib: the first 512 of --data)
  int threads = 0;
};

/// Registers --qat, --data, --epochs, --calib-batch, --freeze-ranges-after, --learn-scales,
/// --distill (--temperature, --distill-weight) and the optimizer options on `cmd`.
void add_qat_options(CLI::App* cmd, QatOptions& o);

/// Usage checks before the model is read (Error kUsage naming the conflict).
/// `batch` is quantize's --batch (the training batch with --qat).
void check_qat_options(const QatOptions& o, const passes::QuantizeSettings& s, bool target_drop, bool gptq, int64_t batch);

/// The pipeline text quantize --qat records.
std::string qat_pipeline_text(const QatOptions& o, const passes::QuantizeSettings& s, int64_t batch);

/// Trains `model` quantization-aware and leaves the QDQ export in it; `report` receives what the
/// quantize pass did (layers quantized, left float). Weights that are exactly zero (a pruned model)
/// stay zero.
/// `original` is the float model (accuracy before, on --val).
StageResult run_qat(ir::Model& model, const ir::Model& original, const QatOptions& o, const passes::QuantizeSettings& s,
                    const QatInputs& in, bool quiet_epochs, passes::QuantReport& report);

}  // namespace scalec::cli
