#pragma once
// The quantize stage as a pipeline of registered passes: what `scalec quantize` (and a `quantize`
// stage of `scalec run`) decides from its options, expanded into fine-grained passes —
//
//   fold-batchnorm, equalize, gemm-to-matmul, gptq, bias-correction, quantize-qdq<...>
//
// — each printing its options, so --print-pipeline shows exactly what runs and the output's
// provenance records it. Passes that need data (gptq, bias-correction, the calibrating qdq and
// qoperator passes) read the PassContext's calibration batches; GPTQ leaves its weights in the
// context for the passes after it.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "passes/core/pass_manager.h"
#include "passes/core/pass_text.h"
#include "passes/quantize/gptq.h"
#include "passes/quantize/qdq_pass.h"

namespace scalec::passes {

/// Every choice of the quantize stage (the command's options, as plain values).
struct QuantizeSettings {
  /// qdq, qoperator, dynamic, weight-only, fp16 (half-precision weights and compute), or auto:
  /// qdq with calibration data; without, dynamic MatMul/Gemm plus weight-only Conv at 8 bits,
  /// weight-only below 8 bits.
  std::string format = "auto";
  int bits = 8;
  std::string method = "mse";
  double percentile = 99.99;
  std::string granularity;  ///< "", per-tensor, per-channel or block ("": the format's default)
  int64_t block = 0;
  bool asymmetric = false, symmetric_activations = false, keep_io_float = false, fold_bn = true;
  bool full_range = false, equalize = false, gptq = false;
  int bias_correction = -1;  ///< -1: on for qdq and qoperator, 0 off, 1 on
  GptqOptions gptq_options;
  std::set<std::string> exclude_nodes, exclude_ops;
  /// Weight bits per node name (2..8, the --bits meaning: 8 is stored in 7 bits unless full_range),
  /// overriding `bits`; qdq and qoperator only (mixed precision, `quantize --target-drop`).
  std::map<std::string, int> layer_bits;
};

/// The format `auto` becomes (the others stay as they are).
std::string resolved_format(const QuantizeSettings& s, bool have_calibration);

/// Checks the settings (Error kUsage naming the conflict, e.g. qdq without calibration data) and
/// adds the stage's passes to `pm`.
void build_quantize_pipeline(const QuantizeSettings& s, bool have_calibration, PassManager& pm);

/// The options quantize-qdq runs with for `s` (weights as the stage stores them, activations,
/// exclusions), ranges not yet calibrated: quantization-aware training starts from them.
QdqOptions stage_qdq_options(const QuantizeSettings& s);

/// The weight quantization the stage chose, for reports: weight_bits, granularity, block_size,
/// symmetric, reduce_range (for dynamic+weight-only: the MatMul weights').
nlohmann::json quantize_weights_json(const QuantizeSettings& s, bool have_calibration);

/// What the quantize passes of a run left in its context: the layers quantized and left float
/// (merged over the passes), GPTQ's weights for the passes after it.
struct QuantizeState {
  std::map<std::string, quant::QuantizedWeight> prequantized;
  QuantReport report;
  bool ran = false;  ///< some quantization pass ran
};

/// The quantization passes pipeline text may name (`quantize-qdq`, `gptq`, ...) with their options
/// parsed from `spec`; null for a name that is not one of them.
std::unique_ptr<Pass> create_quantize_pass(const PassSpec& spec);

}  // namespace scalec::passes
