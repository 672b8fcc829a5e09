#pragma once
// Index-driven data movement on the CPU: GatherElements, GatherND, ScatterElements (and the
// deprecated Scatter), ScatterND, NonZero. Elements move by size (any whole-byte dtype, strings);
// scatter reductions other than "none" need a numeric dtype. Indices arrive as int64 values
// (negative ones count from the end) and are checked against the data's dims.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// How a scatter combines an update with the element already there.
enum class ScatterReduction { kNone, kAdd, kMul, kMax, kMin };

/// The reduction named by a Scatter* `reduction` attribute; throws for unknown names.
ScatterReduction parse_scatter_reduction(const std::string& name, const std::string& where);

/// out[c] = data[c with c[axis] = indices[c]]; out has the indices' shape.
ir::Tensor gather_elements_cpu(ThreadPool& pool, const ir::Tensor& data, const std::vector<int64_t>& indices,
                               const std::vector<int64_t>& indices_shape, int64_t axis, const std::string& where);

/// Slices of `data` addressed by the last axis of `indices`, after `batch_dims` shared batch axes.
ir::Tensor gather_nd_cpu(const ir::Tensor& data, const std::vector<int64_t>& indices, const std::vector<int64_t>& indices_shape,
                         int64_t batch_dims, const std::string& where);

/// A copy of data with updates[c] combined into data[c with c[axis] = indices[c]].
ir::Tensor scatter_elements_cpu(const ir::Tensor& data, const std::vector<int64_t>& indices,
                                const std::vector<int64_t>& indices_shape, const ir::Tensor& updates, int64_t axis,
                                ScatterReduction reduction, const std::string& where);

/// A copy of data with the slices of `updates` combined into the slices that `indices` address.
ir::Tensor scatter_nd_cpu(const ir::Tensor& data, const std::vector<int64_t>& indices, const std::vector<int64_t>& indices_shape,
                          const ir::Tensor& updates, ScatterReduction reduction, const std::string& where);

/// int64 [rank, count] coordinates of the non-zero elements, in row-major order.
ir::Tensor nonzero_cpu(const ir::Tensor& x, const std::string& where);

}  // namespace scalec::kernels
