#pragma once
// CPU pooling kernels over N-D windows (layout N, C, spatial...): max (with the Indices output),
// average and Lp pooling with strides, dilations, explicit or automatic pads and ceil_mode, and the
// Global* reductions over all spatial axes. Serves MaxPool 1-22, AveragePool 1-22, LpPool 1-22,
// GlobalMaxPool, GlobalAveragePool, GlobalLpPool and MaxUnpool 9-22 (kernels/ops/pool_ops.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// Pooling attributes as an op node gives them; empty vectors mean the ONNX defaults.
struct PoolAttrs {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;  ///< [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;
};

/// Window geometry, one entry per spatial axis.
struct PoolGeometry {
  std::vector<int64_t> in, out, kernel, stride, dilation, pad_begin, pad_end;
};

/// Output size and effective pads of pooling `x_shape` [N, C, spatial...] as the ONNX spec defines
/// them (ceil_mode drops a last window that would start in the right padding, as PyTorch and ONNX 22
/// do). Throws Error(kBadInput) prefixed by `where` for inconsistent attributes.
PoolGeometry pool_geometry(const PoolAttrs& attrs, const std::vector<int64_t>& x_shape, const std::string& where);

/// What a pooling window reduces to.
enum class PoolKind { kMax, kAverage, kLp };

/// The reduction and its options.
struct PoolReduce {
  PoolKind kind = PoolKind::kMax;
  bool count_include_pad = false;  ///< average: divide by the window size including pads
  double p = 2;                    ///< Lp: the norm's exponent
  bool want_indices = false;       ///< max: also return the flat argmax indices (int64)
  int64_t storage_order = 0;       ///< max indices: 0 row major, 1 column major over spatial axes
};

/// Pools x [N, C, spatial...] over the windows of `g`. Returns {Y} or, for max with want_indices,
/// {Y, Indices}. Max accepts float, double and integer types; average and Lp float and double.
std::vector<ir::Tensor> pool_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const PoolGeometry& g,
                                         const PoolReduce& r, const std::string& where);

/// Global{Max,Average,Lp}Pool: reduces every spatial axis of x [N, C, spatial...] to size 1.
ir::Tensor global_pool_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const PoolReduce& r, const std::string& where);

/// MaxUnpool: a zero tensor of `y_shape` with y.flat[indices[i]] = x.flat[i] (indices as MaxPool's
/// Indices output gives them: flat over the whole tensor). Any fixed-size element type.
ir::Tensor max_unpool_forward_cpu(const ir::Tensor& x, const ir::Tensor& indices, const std::vector<int64_t>& y_shape,
                                  const std::string& where);

}  // namespace scalec::kernels
