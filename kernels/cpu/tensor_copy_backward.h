#pragma once
// Backward kernels of the data-movement ops (tensor_copy_backward.cpp): the adjoint of a gather
// through per-axis offset tables, and Gather's scatter-add. Float and double (gradients only).
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/tensor_copy.h"

namespace scalec::kernels {

/// The adjoint of gather_axes: adds every element i of `dy` (iterating dy's shape) to
/// dx[sum_d axes[d][i_d]] (dx: same dtype, any shape). `injective`: no two elements of dy share a
/// target, so rows run in parallel; otherwise one thread adds in dy's order (deterministic).
void gather_axes_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const AxisOffsets& axes, ir::Tensor& dx,
                              bool injective, const std::string& where);

/// Gather backward: data of `x_shape` viewed as [outer, dim, inner] (dim along the gathered axis),
/// dy as [outer, count, inner]; dx[o, index[j], i] += dy[o, j, i]. `index`: count values already
/// in [0, dim). Repeated indices add up; each outer slice runs on one thread, in j order.
ir::Tensor gather_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const std::vector<int64_t>& x_shape, int64_t axis,
                               const std::vector<int64_t>& index, const std::string& where);

}  // namespace scalec::kernels
