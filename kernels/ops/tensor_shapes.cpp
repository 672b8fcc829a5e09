// Shape and type rules of the tensor family (see kernels/ops/shape_rules.h). This file: the ops of
// tensor_ops.cpp and tensor_shape_ops.cpp; the slice and index ops are in tensor_index_shapes.cpp.
// Output shapes come from the functions the kernels use (tensor_ops_internal.h), fed with the
// symbolic dims the rule knows; data-dependent arguments (Reshape's shape, Tile's repeats...) are
// read with InferContext::input_value, and give unknown dims of a known rank where only the
// argument's length is known.
#include "ir/error.h"
#include "kernels/cpu/tensor_fill.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"
#include "kernels/ops/tensor_ops_internal.h"
#include "kernels/ops/tensor_shapes_internal.h"

namespace scalec::kernels {

namespace tensor_rules {

using shapes::Dims;

std::optional<std::vector<int64_t>> input_ints(const InferContext& ctx, size_t i, const char* what) {
  const ir::Tensor* t = ctx.has_input(i) ? ctx.input_value(i) : nullptr;
  if (t == nullptr) return std::nullopt;
  return int_values(ctx, *t, what);
}

std::optional<int64_t> input_length(const InferContext& ctx, size_t i) {
  if (const ir::Tensor* t = ctx.has_input(i) ? ctx.input_value(i) : nullptr) return t->numel();
  const ir::TypeInfo& t = ctx.input_type(i);
  if (!t.shape || t.shape->size() != 1) return std::nullopt;
  return (*t.shape)[0].value;
}

ir::Dim dim_product(const Dims& dims) {
  std::optional<int64_t> n = 1;
  const ir::Dim* only = nullptr;  // the single dim other than a known 1
  size_t others = 0;
  for (const ir::Dim& d : dims) {
    if (d.value == 1) continue;
    only = &d;
    ++others;
    n = n && d.value ? std::optional<int64_t>(*n * *d.value) : std::nullopt;
  }
  if (others == 1) return *only;
  return shapes::dim_from(n);
}

}  // namespace tensor_rules

namespace {

using namespace shapes;
using namespace tensor_rules;
using ir::TypeInfo;
using Types = std::vector<TypeInfo>;

constexpr auto kInt64 = static_cast<int32_t>(ir::DType::kInt64);

Types dropout(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  Types out{x};
  if (ctx.num_outputs() > 1) {
    // Opsets 1-9: the mask has the data's type; 10+: bool.
    out.push_back(ctx.opset() < 10 ? x : tensor_type(static_cast<int32_t>(ir::DType::kBool), x.shape));
  }
  return out;
}

Types constant(const InferContext& ctx) {
  if (ctx.has_attr("sparse_value")) return {unknown_type()};  // the kernel refuses it; its dims are not parsed here
  const ir::Tensor t = constant_value(ctx);
  return {TypeInfo::tensor(t.dtype(), t.shape())};
}

Types constant_of_shape(const InferContext& ctx) {
  const ir::Tensor* value = ctx.attr_tensor("value");
  const int32_t elem = static_cast<int32_t>(value ? value->dtype() : ir::DType::kFloat);
  if (auto shape = input_ints(ctx, 0, "shape")) {
    for (int64_t d : *shape) {
      if (d < 0) throw_bad_input("{} shape {} has a negative dimension", ctx.where(), ir::shape_to_string(*shape));
    }
    return {tensor_type(elem, dims_of(*shape))};
  }
  const std::optional<int64_t> n = input_length(ctx, 0);
  return {tensor_type(elem, n ? std::optional<Dims>(unknown_dims(static_cast<size_t>(*n))) : std::nullopt)};
}

Types shape(const InferContext& ctx) {
  const std::optional<int64_t> rank = rank_of(ctx.input_type(0));
  if (!rank) return {tensor_type(kInt64, Dims{unknown_dim()})};
  const auto [start, end] = shape_range(ctx, *rank);
  return {tensor_type(kInt64, Dims{ir::Dim::of(end - start)})};
}

Types range(const InferContext& ctx) {
  const ir::Tensor *start = ctx.input_value(0), *limit = ctx.input_value(1), *delta = ctx.input_value(2);
  ir::Dim n = start && limit && delta ? ir::Dim::of(range_length(*start, *limit, *delta, ctx.where())) : unknown_dim();
  return {like(ctx.input_type(0), Dims{n})};
}

Types eye_like(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (x.shape && x.shape->size() != 2) throw_bad_input("{} input must be 2-D, got {}", ctx.where(), dims_to_string(*x.shape));
  const int32_t elem = ctx.has_attr("dtype") ? static_cast<int32_t>(ctx.attr_int("dtype", 1)) : x.elem_type;
  return {tensor_type(elem, x.shape ? x.shape : Dims(unknown_dims(2)))};
}

Types flatten(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!x.shape) return {like(x, Dims{ctx.attr_int("axis", 1) == 0 ? ir::Dim::of(1) : unknown_dim(), unknown_dim()})};
  const int64_t axis = flatten_axis(ctx, static_cast<int64_t>(x.shape->size()));
  const Dims& d = *x.shape;
  return {like(x, Dims{dim_product(Dims(d.begin(), d.begin() + axis)), dim_product(Dims(d.begin() + axis, d.end()))})};
}

Types reshape(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  std::optional<std::vector<int64_t>> target = ctx.opset() < 5 ? ctx.attr_ints("shape") : input_ints(ctx, 1, "shape");
  if (!target) {
    const std::optional<int64_t> n = input_length(ctx, 1);
    return {like(x, n ? std::optional<Dims>(unknown_dims(static_cast<size_t>(*n))) : std::nullopt)};
  }
  const bool allowzero = ctx.opset() >= 14 && ctx.attr_int("allowzero", 0) != 0;
  return {like(x, reshape_dims(ctx, x.shape, std::move(*target), allowzero))};
}

// Squeeze / Unsqueeze axes: the attribute before opset 13, the input from 13 (nullopt: not known).
std::optional<std::vector<int64_t>> squeeze_axes(const InferContext& ctx) {
  if (ctx.opset() < 13) return ctx.attr_ints("axes");
  if (!ctx.has_input(1)) return std::vector<int64_t>{};
  return input_ints(ctx, 1, "axes");
}

Types squeeze(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const std::optional<std::vector<int64_t>> axes = squeeze_axes(ctx);
  if (!x.shape) return {like(x, std::nullopt)};
  if (axes) return {like(x, squeeze_dims(ctx, *x.shape, *axes))};
  const std::optional<int64_t> n = input_length(ctx, 1);
  if (!n || *n > static_cast<int64_t>(x.shape->size())) return {like(x, std::nullopt)};
  return {like(x, unknown_dims(x.shape->size() - static_cast<size_t>(*n)))};
}

Types unsqueeze(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const std::optional<std::vector<int64_t>> axes = squeeze_axes(ctx);
  if (!x.shape) return {like(x, std::nullopt)};
  if (axes) return {like(x, unsqueeze_dims(ctx, *x.shape, *axes))};
  const std::optional<int64_t> n = input_length(ctx, 1);
  return {like(x, n ? std::optional<Dims>(unknown_dims(x.shape->size() + static_cast<size_t>(*n))) : std::nullopt)};
}

Types transpose(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!x.shape) {
    const size_t n = ctx.attr_ints("perm").size();
    return {like(x, n > 0 ? std::optional<Dims>(unknown_dims(n)) : std::nullopt)};
  }
  Dims out;
  for (int64_t p : transpose_perm(ctx, static_cast<int64_t>(x.shape->size()))) out.push_back((*x.shape)[static_cast<size_t>(p)]);
  return {like(x, out)};
}

Types expand(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (auto shape = input_ints(ctx, 1, "shape")) {
    const TypeInfo target = TypeInfo::tensor(ir::DType::kInt64, *shape);
    return {like(x, broadcast(ctx, {&x, &target}))};
  }
  const std::optional<int64_t> n = input_length(ctx, 1);
  if (!x.shape || !n) return {like(x, std::nullopt)};
  // The target's entries are unknown, but an input dim known to exceed 1 stays (the target's is 1 or
  // equal), and input dims the (shorter) target does not reach stay as they are.
  const size_t rank = std::max(x.shape->size(), static_cast<size_t>(*n));
  Dims out = unknown_dims(rank);
  for (size_t i = 0; i < x.shape->size(); ++i) {
    const ir::Dim& d = (*x.shape)[i];
    const size_t at = rank - x.shape->size() + i;
    if ((d.value && *d.value > 1) || at < rank - static_cast<size_t>(*n)) out[at] = d;
  }
  return {like(x, out)};
}

Types tile(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!x.shape) return {like(x, std::nullopt)};
  const auto rank = static_cast<int64_t>(x.shape->size());
  std::optional<std::vector<int64_t>> repeats;
  if (ctx.opset() >= 6) {
    repeats = input_ints(ctx, 1, "repeats");
    if (!repeats) return {like(x, unknown_dims(x.shape->size()))};
    return {like(x, tile_dims(ctx, *x.shape, *repeats))};
  }
  // Tile-1: a scalar count of copies along one axis.
  const std::optional<std::vector<int64_t>> axis = input_ints(ctx, 2, "axis"), tiles = input_ints(ctx, 1, "tiles");
  if (!axis || axis->size() != 1) return {like(x, unknown_dims(x.shape->size()))};
  const auto a = static_cast<size_t>(normalize_axis(ctx, (*axis)[0], rank));
  if (!tiles || tiles->size() != 1) {
    Dims out = *x.shape;
    out[a] = unknown_dim();
    return {like(x, out)};
  }
  std::vector<int64_t> r(x.shape->size(), 1);
  r[a] = (*tiles)[0];
  return {like(x, tile_dims(ctx, *x.shape, r))};
}

Types depth_space(const InferContext& ctx, bool to_space) {
  const TypeInfo& x = ctx.input_type(0);
  return {like(x, x.shape ? depth_space_dims(ctx, *x.shape, to_space) : unknown_dims(4))};
}

}  // namespace

void register_tensor_shapes(OpRegistry& r) {
  r.set_infer("Identity", [](const InferContext& ctx) { return same_as_input(ctx); });
  r.set_infer("Dropout", dropout);
  r.set_infer("Constant", constant);
  r.set_infer("ConstantOfShape", constant_of_shape);
  r.set_infer("Shape", shape);
  r.set_infer("Size", [](const InferContext&) { return Types{tensor_type(kInt64, Dims{})}; });
  r.set_infer("Range", range);
  r.set_infer("EyeLike", eye_like);
  r.set_infer("Flatten", flatten);
  r.set_infer("Reshape", reshape);
  r.set_infer("Squeeze", squeeze);
  r.set_infer("Unsqueeze", unsqueeze);
  r.set_infer("Transpose", transpose);
  r.set_infer("Expand", expand);
  r.set_infer("Tile", tile);
  r.set_infer("DepthToSpace", [](const InferContext& ctx) { return depth_space(ctx, true); });
  r.set_infer("SpaceToDepth", [](const InferContext& ctx) { return depth_space(ctx, false); });
  register_tensor_index_shapes(r);
}

}  // namespace scalec::kernels
