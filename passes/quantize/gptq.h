#pragma once
// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers") for the weight-only and QDQ formats: the weights of each MatMul, Gemm and Conv
// are quantized one input column at a time, and the rounding error of each column is spread over
// the columns not yet quantized so that the layer's output on the calibration data moves least.
//
//   W [rows = output channels, cols = K]; H = 2/n sum x x^T of the layer's inputs (calibration/hessian.h)
//   H += damp * mean(diag H) * I;  U = upper Cholesky factor of H^-1
//   for column i: q_i = quant(w_i);  e = (w_i - q_i) / U[i,i];  w_j -= e * U[i,j] for j > i
//
// The updates run inside blocks of 128 columns; the columns right of a block get one GEMM per block
// (lazy batch updates). Blockwise scales are chosen when their block of columns is reached, from
// the weights as updated so far (the paper's grouping); with act-order (columns by decreasing
// H[i,i]) they are fixed from the original weights first ("static groups"), so that the stored
// blocks still run along the input axis. Per-channel and per-tensor scales come from the original
// weights. The result has exactly the layout quant::quantize_weight produces, so the weight-only
// and QDQ passes store it unchanged (their `prequantized` option).
//
// Preconditions: float32 weights; MatMul/Gemm weights of rank 2; Conv weights [M, C/group, k...].
// A weight shared by several nodes, ConvTranspose and batched MatMul weights stay round-to-nearest.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calibration/calibrator.h"
#include "calibration/hessian.h"
#include "passes/quantize/quant_math.h"

namespace scalec::passes {

/// GPTQ settings (the paper's defaults).
struct GptqOptions {
  double damp = 0.01;        ///< dampening: this fraction of mean(diag H) is added to the diagonal
  int64_t block = 128;       ///< columns per lazy-update block
  bool act_order = false;    ///< quantize columns in order of decreasing H[i,i]
  /// Hessians held at once (K x K doubles per layer and group): layers are taken in groups that fit,
  /// one calibration pass per group (at least one layer per pass), so memory stays bounded.
  size_t hessian_budget_bytes = size_t{1} << 30;
};

/// A weight in GPTQ's orientation: W[r, c] is element index[r * cols + c] of the stored tensor.
struct GptqMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> index;
};

/// The [output channel, input] view of weight `shape` with these axes (channel axis 0, or a rank-2
/// weight with channel axis 1); Error(kBadInput) for other layouts.
GptqMatrix gptq_matrix(const std::vector<int64_t>& shape, const quant::WeightAxes& axes);

/// GPTQ-quantizes `w`: `hessians` holds one K x K matrix (K = gptq_matrix's cols) per group of
/// output channels (Conv groups split them evenly; one matrix otherwise).
/// The block updates run on `pool` when one is given.
quant::QuantizedWeight gptq_quantize_weight(const ir::Tensor& w, const quant::WeightAxes& axes,
                                            const std::vector<std::vector<double>>& hessians,
                                            const quant::WeightQuantOptions& wq, const GptqOptions& options,
                                            kernels::ThreadPool* pool = nullptr);

/// ||(W - Wq) X||^2 / ||W X||^2 over the calibration rows, from H (the same groups as above).
double gptq_relative_error(const ir::Tensor& w, const ir::Tensor& wq, const quant::WeightAxes& axes,
                           const std::vector<std::vector<double>>& hessians, kernels::ThreadPool* pool = nullptr);

/// One layer's outcome: relative output error with round-to-nearest and with GPTQ.
struct GptqLayerReport {
  std::string node, weight;
  double rtn_error = 0, gptq_error = 0;
};

/// What run_gptq did.
struct GptqReport {
  std::vector<GptqLayerReport> layers;
  std::vector<std::pair<std::string, std::string>> skipped;  ///< node, why it stays round-to-nearest
  int64_t samples = 0;
  size_t hessian_bytes = 0;  ///< the most Hessian state held at once
  int64_t passes = 0;        ///< calibration passes (groups of layers)
  /// One summary line (layers, mean relative error RTN -> GPTQ).
  std::string summary() const;
};

/// The weights run_gptq quantizes, and how: the settings of the quantization pass that follows.
struct GptqTarget {
  quant::WeightQuantOptions weights;
  std::set<std::string> exclude_nodes, exclude_ops;
  bool keep_io_float = false;
};

/// Collects the Hessians of the Conv/Gemm/MatMul layers `target` selects (over `data`), runs GPTQ on
/// each (calib.threads threads) and stores the results in `prequantized`, keyed by weight name (the weight-only and QDQ
/// passes' option of that name).
GptqReport run_gptq(const ir::Model& model, const GptqTarget& target, const calibration::BatchSource& data,
                    const calibration::CalibrationOptions& calib, const GptqOptions& options,
                    std::map<std::string, quant::QuantizedWeight>& prequantized);

}  // namespace scalec::passes
