#pragma once
// Shared by the tensor op family's files (tensor_ops.cpp, tensor_*_ops.cpp, tensor_*shapes.cpp,
// tensor_*grads.cpp): their registration functions, the argument readings a kernel and its
// backward rule share, and the output-shape computations that a kernel and its shape rule share
// (on ir::Dim, so a rule can pass symbolic dims through; a kernel converts its known shape with
// dims_of / dim_values).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/tensor.h"
#include "ir/type_info.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

/// Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Expand, Tile, DepthToSpace, SpaceToDepth.
void register_tensor_shape_ops(OpRegistry& r);
/// Concat, Split, Slice, Pad, Compress, Trilu.
void register_tensor_slice_ops(OpRegistry& r);
/// Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, OneHot, NonZero.
void register_tensor_index_ops(OpRegistry& r);
/// Backward rules of Concat, Split, Slice, Pad, Gather, Resize, Upsample (tensor_index_grads.cpp),
/// called from register_tensor_grads.
void register_tensor_index_grads(OpRegistry& r);
/// Shape rules of the slice and index ops (tensor_index_shapes.cpp), called from register_tensor_shapes.
void register_tensor_index_shapes(OpRegistry& r);

/// Gather's indices (input `indices`) along an axis of size `dim`, negative ones counted from the
/// end; Error(kBadInput) naming the node when one is out of range.
std::vector<int64_t> gather_indices(const NodeAttrs& ctx, const ir::Tensor& indices, int64_t axis, int64_t dim);

/// Axes from the `axes` attribute (opsets before `input_since`) or from input `input_index`;
/// empty when neither is given.
std::vector<int64_t> axes_attr_or_input(const OpContext& ctx, int64_t input_since, size_t input_index);

// ---- Output shapes shared by kernels and shape rules ----

using DimVec = std::vector<ir::Dim>;

/// Known dims of a concrete shape.
DimVec dims_of(const std::vector<int64_t>& shape);
/// "[N, 3, ?]".
std::string dims_to_string(const DimVec& dims);
/// The numbers of `dims`; Error(kInternal) when one is not known.
std::vector<int64_t> dim_values(const NodeAttrs& ctx, const DimVec& dims);

/// Dropout: the ratio, and whether (and with which seed) the forward drops; it copies otherwise.
struct DropoutPlan {
  double ratio = 0.5;
  bool drops = false;
  uint32_t seed = 0;
};
DropoutPlan dropout_plan(const OpContext& ctx);

/// Constant: the tensor its value / value_float(s) / value_int(s) / value_string(s) attribute holds.
ir::Tensor constant_value(const NodeAttrs& ctx);

/// Flatten: the axis splitting the input into [outer, inner], checked against `rank`.
int64_t flatten_axis(const NodeAttrs& ctx, int64_t rank);
/// Reshape: `target` with 0 (unless allowzero) and -1 resolved against input dims `in` (nullopt:
/// rank unknown); unknown where it cannot tell. Throws when the element counts cannot agree.
DimVec reshape_dims(const NodeAttrs& ctx, const std::optional<DimVec>& in, std::vector<int64_t> target, bool allowzero);
/// Squeeze: `in` without `axes` (all dims of size 1 when empty); nullopt when an unknown dim
/// might be 1 and no axes are given.
std::optional<DimVec> squeeze_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<int64_t>& axes);
/// Unsqueeze: `in` with dims of size 1 inserted at `axes` (positions in the result).
DimVec unsqueeze_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<int64_t>& axes);
/// Transpose: the `perm` attribute (reversed axes by default), checked and normalized for `rank`.
std::vector<int64_t> transpose_perm(const NodeAttrs& ctx, int64_t rank);
/// Tile: the repeat count of each of the `rank` axes (repeats input, or Tile-1's tiles and axis).
std::vector<int64_t> tile_repeats(const OpContext& ctx, int64_t rank);
/// Tile: each dim times its repeat count.
DimVec tile_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<int64_t>& repeats);
/// DepthToSpace (`to_space`) / SpaceToDepth: the [N, C, H, W] result for blocksize.
DimVec depth_space_dims(const NodeAttrs& ctx, const DimVec& in, bool to_space);

/// Concat: the joined dims of `inputs` (same rank, equal dims off `axis`, summed along it).
DimVec concat_dims(const NodeAttrs& ctx, const std::vector<const DimVec*>& inputs, int64_t axis);
/// Split: the size of each output along an axis of size `dim`, from the split attribute or input
/// (by opset) or equal parts.
std::vector<int64_t> split_sizes(const OpContext& ctx, int64_t dim);
/// Split: the size of each output along the axis of size `dim`; `sizes` empty means equal parts.
DimVec split_dims(const NodeAttrs& ctx, const ir::Dim& dim, std::vector<int64_t> sizes);

/// One axis a Slice reads: normalized axis and the raw start, end, step.
struct SliceAxis {
  size_t axis;
  int64_t start, end, step;
};
/// Slice: arguments checked (lengths, repeated axes, zero steps); axes default to 0, 1, ...
std::vector<SliceAxis> slice_axes(const NodeAttrs& ctx, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                                  std::vector<int64_t> axes, std::vector<int64_t> steps, int64_t rank);
/// Slice: the node's arguments (attributes 1-9, inputs 10+) checked for an input of `rank`.
std::vector<SliceAxis> slice_args(const OpContext& ctx, int64_t rank);
/// Slice: the first coordinate and count read along an axis of size `dim`.
std::pair<int64_t, int64_t> slice_range(int64_t dim, const SliceAxis& s);
/// Slice: the output dim along `s.axis` for input dim `dim` (a whole-axis slice keeps a symbolic dim).
ir::Dim slice_dim(const ir::Dim& dim, const SliceAxis& s);

/// Pad: per-axis (before, after) amounts from `pads` over `axes` (nullopt: every axis).
std::vector<std::pair<int64_t, int64_t>> pad_amounts(const NodeAttrs& ctx, const std::vector<int64_t>& pads,
                                                     const std::optional<std::vector<int64_t>>& axes, int64_t rank);
/// Pad: the mode and per-axis (before, after) amounts a node asks for (attributes or inputs by opset).
struct PadArgs {
  std::string mode;
  std::vector<std::pair<int64_t, int64_t>> amounts;
};
PadArgs pad_args(const OpContext& ctx, int64_t rank);
/// Pad: the source coordinate that output coordinate `i` (relative to the unpadded start) reads
/// along an axis of size `n`, for the reflect, edge and wrap modes.
int64_t pad_source(const std::string& mode, int64_t i, int64_t n);
/// Pad: the padded dims; throws when a crop exceeds an axis or a non-constant mode pads an empty one.
DimVec pad_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<std::pair<int64_t, int64_t>>& amounts,
                const std::string& mode);

/// Gather: data dims with `axis` replaced by the indices' dims.
DimVec gather_dims(const DimVec& data, const DimVec& indices, int64_t axis);

}  // namespace scalec::kernels
