#pragma once
// Shared by the tensor op family's files (tensor_ops.cpp, tensor_*_ops.cpp): their registration
// functions, called from register_tensor_ops, and the argument helpers they all use.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

/// Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Expand, Tile, DepthToSpace, SpaceToDepth.
void register_tensor_shape_ops(OpRegistry& r);
/// Concat, Split, Slice, Pad, Compress, Trilu.
void register_tensor_slice_ops(OpRegistry& r);
/// Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, OneHot, NonZero.
void register_tensor_index_ops(OpRegistry& r);

/// `axis` in [-rank, rank - 1] mapped to [0, rank - 1]; throws naming the op otherwise.
int64_t normalize_axis(const OpContext& ctx, int64_t axis, int64_t rank);

/// The elements of an integer tensor (int32 or int64; other integer types too) as int64.
std::vector<int64_t> int_values(const OpContext& ctx, const ir::Tensor& t, const char* what);

/// The single element of an integer tensor (a scalar or a 1-element tensor) as int64.
int64_t int_scalar(const OpContext& ctx, const ir::Tensor& t, const char* what);

/// Axes from the `axes` attribute (opsets before `input_since`) or from input `input_index`;
/// empty when neither is given.
std::vector<int64_t> axes_attr_or_input(const OpContext& ctx, int64_t input_since, size_t input_index);

}  // namespace scalec::kernels
