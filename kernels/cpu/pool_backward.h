#pragma once
// Pooling backward on the CPU: the gradient of X for MaxPool, AveragePool, GlobalMaxPool and
// GlobalAveragePool (layout N, C, spatial...), float and double.
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/pool.h"

namespace scalec::kernels {

class ThreadPool;

/// MaxPool's dX of shape `x_shape`: dy[i] added at the flat position indices[i] (MaxPool's Indices
/// output with storage_order 0; -1, an empty window, gets nothing).
ir::Tensor max_pool_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const ir::Tensor& indices,
                                 const std::vector<int64_t>& x_shape, const std::string& where);

/// AveragePool's dX of shape `x_shape`: each window's dy divided by the forward's divisor (the
/// taps inside the input, or the whole kernel with count_include_pad) and added to those taps.
ir::Tensor average_pool_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const PoolGeometry& g,
                                     bool count_include_pad, const std::vector<int64_t>& x_shape,
                                     const std::string& where);

/// GlobalAveragePool's dX (dy / spatial size everywhere) or GlobalMaxPool's (dy at the first
/// maximum of each plane, or its first NaN, as the forward picks it) for input x.
ir::Tensor global_pool_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& dy, PoolKind kind,
                                    const std::string& where);

}  // namespace scalec::kernels
