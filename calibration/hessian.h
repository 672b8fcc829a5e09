#pragma once
// Hessians for GPTQ: H = 2/n * sum over rows x of x x^T, where the rows x are the vectors a layer's
// weight multiplies (its reduction axis): the last axis of a MatMul/Gemm input, or the im2col
// columns of a Conv input ((c, k...) per output position, one Hessian per group). The state is
// K x K per layer (doubles), whatever the number of calibration samples.
#include <cstdint>
#include <string>
#include <vector>

#include "calibration/calibrator.h"
#include "kernels/cpu/conv.h"

namespace scalec::calibration {

/// Which rows of a layer's input a Hessian accumulates.
enum class HessianLayout {
  kRows,     ///< x [..., K]: every K-vector along the last axis (MatMul, Gemm transA=0)
  kColumns,  ///< x [K, M]: every column (Gemm transA=1)
  kConv,     ///< x [N, C, spatial...]: im2col columns (C/group * kernel volume) per group
};

/// One layer whose input is observed.
struct HessianLayer {
  std::string node;                  ///< for messages
  std::string input;                 ///< the value the layer's weight multiplies (a graph input or node output)
  HessianLayout layout = HessianLayout::kRows;
  int64_t k = 0;                     ///< row length (kConv: C/group * kernel volume)
  kernels::ConvAttrs conv;           ///< kConv: the node's attributes
  std::vector<int64_t> weight_shape; ///< kConv: W [M, C/group, k...]
};

/// Scratch shared by the observers of one calibration run (they observe one at a time), and the
/// pool their products run on (split by rows of x x^T; none: on the caller).
struct HessianWorkspace {
  kernels::ThreadPool* pool = nullptr;
  std::vector<float> product;  ///< one batch's x^T x in float, added to an observer's double sums
  std::vector<float> columns;  ///< kConv: im2col buffer for one image and group
  size_t bytes() const { return (product.capacity() + columns.capacity()) * sizeof(float); }
};

/// Streaming accumulator of sum x x^T over rows of length K, one matrix per group.
class HessianObserver {
 public:
  HessianObserver(int64_t k, int64_t groups);
  // Each takes its scratch from `ws` when given (else allocates its own for the call).
  /// Adds `rows` rows of K contiguous floats.
  void observe_rows(const float* x, int64_t rows, HessianWorkspace* ws = nullptr);
  /// Adds the `cols` columns of x [K, cols] (row-major) of group `group`.
  void observe_columns(const float* x, int64_t cols, int64_t group, HessianWorkspace* ws = nullptr);
  /// Adds one batch of `layer`'s input (its layout decides how it becomes rows).
  void observe(const ir::Tensor& x, const HessianLayer& layer, HessianWorkspace* ws = nullptr);

  int64_t k() const { return k_; }
  int64_t groups() const { return static_cast<int64_t>(sums_.size()); }
  /// Rows observed per group (n).
  int64_t rows() const { return rows_; }
  /// H = 2/n * sum x x^T of `group`, K x K row-major (zeros when nothing was observed).
  std::vector<double> hessian(int64_t group = 0) const;
  /// hessian(g) for every group, moved out: the observer holds no state afterwards.
  std::vector<std::vector<double>> take_hessians();
  /// Bytes of state: groups * K * K doubles.
  size_t state_bytes() const;

 private:
  void add_product(const std::vector<float>& product, int64_t group);
  int64_t k_;
  int64_t rows_ = 0;
  std::vector<std::vector<double>> sums_;
};

/// Hessians of every layer, in the order given, and what collecting them cost.
struct HessianResult {
  std::vector<HessianObserver> observers;
  int64_t samples = 0;
  size_t state_bytes = 0;
};

/// Runs `model` over `data` (batches of options.batch rows; options.threads for the model and the
/// products) and accumulates the Hessian of each layer's input. A layer input that is missing or
/// not float32 is refused (Error kBadInput, naming the layer).
HessianResult collect_hessians(const ir::Model& model, const std::vector<HessianLayer>& layers,
                               const BatchSource& data, const CalibrationOptions& options);

}  // namespace scalec::calibration
