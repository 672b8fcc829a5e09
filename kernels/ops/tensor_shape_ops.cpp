// Tensor ops that change the shape or the order of elements: Flatten (1+; negative axis at 11+),
// Reshape (1-4 shape attribute, 5+ shape input, allowzero at 14+), Squeeze and Unsqueeze (axes
// attribute 1-12, input 13+), Transpose (1+), Expand (8+), Tile (1-5 tiles/axis inputs, 6+
// repeats), DepthToSpace (1+; mode at 11+), SpaceToDepth (1+). Reshapes share storage; the others
// copy through per-axis offset tables (kernels/cpu/tensor_copy.h), for any dtype.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/ops/tensor_ops_internal.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Tables reading a source of `shape` through `strides` (element strides, one per result axis).
AxisOffsets strided_axes(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  AxisOffsets axes;
  for (size_t d = 0; d < shape.size(); ++d) axes.push_back(axis_range(shape[d], 0, 1, strides[d]));
  return axes;
}

Tensor flatten(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = flatten_axis(ctx, x.rank());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < x.rank(); ++d) (d < axis ? outer : inner) *= x.shape()[static_cast<size_t>(d)];
  return reshape_view(x, {outer, inner});
}

Tensor reshape(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> shape = ctx.opset() < 5 ? ctx.attr_ints("shape") : int_values(ctx, ctx.input(1), "shape");
  const bool allowzero = ctx.opset() >= 14 && ctx.attr_int("allowzero", 0) != 0;
  return reshape_view(x, dim_values(ctx, reshape_dims(ctx, dims_of(x.shape()), std::move(shape), allowzero)));
}

Tensor squeeze(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  return reshape_view(x, dim_values(ctx, *squeeze_dims(ctx, dims_of(x.shape()), axes_attr_or_input(ctx, 13, 1))));
}

Tensor unsqueeze(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  return reshape_view(x, dim_values(ctx, unsqueeze_dims(ctx, dims_of(x.shape()), axes_attr_or_input(ctx, 13, 1))));
}

Tensor transpose(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  std::vector<int64_t> shape, strides;
  for (int64_t p : transpose_perm(ctx, x.rank())) {
    shape.push_back(x.shape()[static_cast<size_t>(p)]);
    strides.push_back(in_strides[static_cast<size_t>(p)]);
  }
  return gather_axes(ctx.pool(), x, shape, strided_axes(shape, strides), ctx.where());
}

Tensor expand(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> shape = broadcast_shape({x.shape(), int_values(ctx, ctx.input(1), "shape")}, ctx.where());
  return gather_axes(ctx.pool(), x, shape, strided_axes(shape, broadcast_strides(x.shape(), shape)), ctx.where());
}

Tensor tile(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t> repeats = tile_repeats(ctx, x.rank());
  const std::vector<int64_t> shape = dim_values(ctx, tile_dims(ctx, dims_of(x.shape()), repeats));
  const std::vector<int64_t> strides = contiguous_strides(x.shape());
  AxisOffsets axes;
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t n = x.shape()[d];
    std::vector<int64_t> table(static_cast<size_t>(shape[d]));
    for (int64_t o = 0; o < shape[d]; ++o) table[static_cast<size_t>(o)] = (o % n) * strides[d];
    axes.push_back(std::move(table));
  }
  return gather_axes(ctx.pool(), x, shape, axes, ctx.where());
}

// DepthToSpace / SpaceToDepth are one 6-D transposition each; `to_space` picks the direction.
Tensor depth_space(const OpContext& ctx, bool to_space) {
  const Tensor& x = ctx.input(0);
  const std::vector<int64_t> out = dim_values(ctx, depth_space_dims(ctx, dims_of(x.shape()), to_space));
  const int64_t b = ctx.attr_int("blocksize", 0);
  const int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  std::vector<int64_t> view, strides;
  if (to_space) {
    const int64_t cc = out[1];
    const std::string mode = ctx.opset() >= 11 ? ctx.attr_string("mode", "DCR") : "DCR";
    // Result viewed as [N, C', H, b, W, b]; the source's channel index is (b1, b2, c') for DCR, (c', b1, b2) for CRD.
    int64_t s_c = h * w, s_b1 = b * cc * h * w, s_b2 = cc * h * w;
    if (mode == "CRD") {
      s_c = b * b * h * w, s_b1 = b * h * w, s_b2 = h * w;
    } else if (mode != "DCR") {
      throw_bad_input("{} unknown mode '{}' (expected DCR or CRD)", ctx.where(), mode);
    }
    view = {n, cc, h, b, w, b};
    strides = {c * h * w, s_c, w, s_b1, 1, s_b2};
  } else {
    // Result viewed as [N, b, b, C, H/b, W/b], reading the source as [N, C, H/b, b, W/b, b].
    view = {n, b, b, c, h / b, w / b};
    strides = {c * h * w, w, 1, h * w, b * w, b};
  }
  return reshape_view(gather_axes(ctx.pool(), x, view, strided_axes(view, strides), ctx.where()), out);
}

template <Tensor (*F)(const OpContext&)>
std::vector<Tensor> one(const OpContext& ctx) {
  return {F(ctx)};
}

}  // namespace

std::vector<int64_t> tile_repeats(const OpContext& ctx, int64_t rank) {
  if (ctx.opset() >= 6) return int_values(ctx, ctx.input(1), "repeats");
  // Tile-1: a scalar count of copies along one axis.
  std::vector<int64_t> repeats(static_cast<size_t>(rank), 1);
  const int64_t axis = normalize_axis(ctx, int_scalar(ctx, ctx.input(2), "axis"), rank);
  repeats[static_cast<size_t>(axis)] = int_scalar(ctx, ctx.input(1), "tiles");
  return repeats;
}

int64_t flatten_axis(const NodeAttrs& ctx, int64_t rank) {
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < 0 && ctx.opset() >= 11) axis += rank;
  if (axis < 0 || axis > rank) throw_bad_input("{} axis {} is out of range for rank {}", ctx.where(), ctx.attr_int("axis", 1), rank);
  return axis;
}

DimVec reshape_dims(const NodeAttrs& ctx, const std::optional<DimVec>& in, std::vector<int64_t> target, bool allowzero) {
  // -1 = (elements of the input dims not copied by a 0) / (product of the explicit entries), so a
  // symbolic dim that a 0 copies cancels out: [N, 3, 4] to [0, -1] gives [N, 12].
  DimVec out(target.size());
  std::vector<bool> copied(in ? in->size() : 0, false);
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowzero) {
      if (!in) continue;  // copies a dimension of an input of unknown rank
      if (i >= in->size()) throw_bad_input("{} shape entry {} copies a dimension the input lacks", ctx.where(), i);
      out[i] = (*in)[i];
      copied[i] = true;
      continue;
    }
    if (target[i] == -1) {
      if (infer >= 0) throw_bad_input("{} shape {} has more than one -1", ctx.where(), ir::shape_to_string(target));
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (target[i] < 0) throw_bad_input("{} shape {} has a negative dimension", ctx.where(), ir::shape_to_string(target));
    out[i] = ir::Dim::of(target[i]);
    if (__builtin_mul_overflow(known, target[i], &known)) {  // found by scalec_fuzz_model
      throw_bad_input("{} shape {} has more elements than int64 counts", ctx.where(), ir::shape_to_string(target));
    }
  }
  // Elements of the input dims no 0 copies, when all of those are known.
  std::optional<int64_t> rest = in ? std::optional<int64_t>(1) : std::nullopt;
  for (size_t i = 0; rest && i < copied.size(); ++i) {
    if (copied[i]) continue;
    if (!(*in)[i].value || __builtin_mul_overflow(*rest, *(*in)[i].value, &*rest)) rest.reset();
  }
  if (!rest) return out;
  if (infer >= 0) {
    if (known == 0 || *rest % known != 0) {
      throw_bad_input("{} cannot infer the -1 in {} for input {}", ctx.where(), ir::shape_to_string(target), dims_to_string(*in));
    }
    out[static_cast<size_t>(infer)] = ir::Dim::of(*rest / known);
  } else if (known != *rest) {
    throw_bad_input("{} cannot reshape {} to {}", ctx.where(), dims_to_string(*in), ir::shape_to_string(target));
  }
  return out;
}

std::optional<DimVec> squeeze_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<int64_t>& axes) {
  const auto rank = static_cast<int64_t>(in.size());
  std::vector<bool> drop(in.size(), axes.empty());
  if (axes.empty()) {
    for (size_t d = 0; d < in.size(); ++d) {
      if (!in[d].value) return std::nullopt;  // might be 1
      drop[d] = *in[d].value == 1;
    }
  }
  for (int64_t a : axes) {
    a = normalize_axis(ctx, a, rank);
    const ir::Dim& d = in[static_cast<size_t>(a)];
    if (d.value && *d.value != 1) {
      throw_bad_input("{} cannot squeeze axis {} of shape {}", ctx.where(), a,
                      dims_to_string(in));
    }
    drop[static_cast<size_t>(a)] = true;
  }
  DimVec out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!drop[d]) out.push_back(in[d]);
  }
  return out;
}

DimVec unsqueeze_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<int64_t>& axes) {
  const int64_t rank = static_cast<int64_t>(in.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    a = normalize_axis(ctx, a, rank);
    if (inserted[static_cast<size_t>(a)]) throw_bad_input("{} axis {} is repeated", ctx.where(), a);
    inserted[static_cast<size_t>(a)] = true;
  }
  DimVec out;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d) out.push_back(inserted[static_cast<size_t>(d)] ? ir::Dim::of(1) : in[next++]);
  return out;
}

std::vector<int64_t> transpose_perm(const NodeAttrs& ctx, int64_t rank) {
  std::vector<int64_t> perm = ctx.attr_ints("perm");
  if (perm.empty()) {
    for (int64_t d = rank; d-- > 0;) perm.push_back(d);
  }
  if (static_cast<int64_t>(perm.size()) != rank) throw_bad_input("{} perm has {} entries for rank {}", ctx.where(), perm.size(), rank);
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& p : perm) {
    p = normalize_axis(ctx, p, rank);
    if (seen[static_cast<size_t>(p)]) throw_bad_input("{} perm is not a permutation", ctx.where());
    seen[static_cast<size_t>(p)] = true;
  }
  return perm;
}

DimVec tile_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<int64_t>& repeats) {
  if (repeats.size() != in.size()) throw_bad_input("{} repeats has {} entries for rank {}", ctx.where(), repeats.size(), in.size());
  DimVec out;
  for (size_t d = 0; d < repeats.size(); ++d) {
    if (repeats[d] < 0) throw_bad_input("{} repeats must not be negative", ctx.where());
    if (repeats[d] == 1) out.push_back(in[d]);
    else out.push_back(repeats[d] == 0 ? ir::Dim::of(0) : in[d].value ? ir::Dim::of(*in[d].value * repeats[d]) : ir::Dim{});
  }
  return out;
}

DimVec depth_space_dims(const NodeAttrs& ctx, const DimVec& in, bool to_space) {
  const int64_t b = ctx.attr_int("blocksize", 0);
  if (in.size() != 4) {
    throw_bad_input("{} input must be 4-D [N, C, H, W], got {}", ctx.where(), dims_to_string(in));
  }
  if (b < 1) throw_bad_input("{} blocksize must be positive, got {}", ctx.where(), b);
  const std::optional<int64_t> c = in[1].value, h = in[2].value, w = in[3].value;
  auto scaled = [](std::optional<int64_t> v, int64_t mul, int64_t div) { return v ? ir::Dim::of(*v * mul / div) : ir::Dim{}; };
  if (to_space) {
    if (c && *c % (b * b) != 0) throw_bad_input("{} channels {} are not a multiple of blocksize^2 = {}", ctx.where(), *c, b * b);
    return {in[0], scaled(c, 1, b * b), scaled(h, b, 1), scaled(w, b, 1)};
  }
  if ((h && *h % b != 0) || (w && *w % b != 0)) {
    throw_bad_input("{} height {} and width {} must be multiples of blocksize {}", ctx.where(), h ? std::to_string(*h) : "?",
                    w ? std::to_string(*w) : "?", b);
  }
  return {in[0], scaled(c, b * b, 1), scaled(h, 1, b), scaled(w, 1, b)};
}

void register_tensor_shape_ops(OpRegistry& r) {
  r.add("Flatten", 1, kLatestOpset, one<flatten>);
  r.add("Reshape", 1, kLatestOpset, one<reshape>);
  r.add("Squeeze", 1, kLatestOpset, one<squeeze>);
  r.add("Unsqueeze", 1, kLatestOpset, one<unsqueeze>);
  r.add("Transpose", 1, kLatestOpset, one<transpose>);
  r.add("Expand", 8, kLatestOpset, one<expand>);
  r.add("Tile", 1, kLatestOpset, one<tile>);
  r.add("DepthToSpace", 1, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{depth_space(ctx, true)}; });
  r.add("SpaceToDepth", 1, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{depth_space(ctx, false)}; });
}

}  // namespace scalec::kernels
