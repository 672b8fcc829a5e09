// Shape and type rules of the tensor family's slice and index ops (tensor_slice_ops.cpp,
// tensor_index_ops.cpp): Concat, Split, Slice, Pad, Compress, Trilu, Gather, GatherElements,
// GatherND, Scatter, ScatterElements, ScatterND, OneHot, NonZero. Registered from
// register_tensor_shapes (tensor_shapes.cpp).
#include "ir/error.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"
#include "kernels/ops/tensor_ops_internal.h"
#include "kernels/ops/tensor_shapes_internal.h"

namespace scalec::kernels {

namespace {

using namespace shapes;
using namespace tensor_rules;
using ir::TypeInfo;
using Types = std::vector<TypeInfo>;

// Elements of `t` that are not zero (what NonZero and Compress select).
int64_t count_nonzero(const ir::Tensor& t) {
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += t.element_as_double(i) != 0 ? 1 : 0;
  return n;
}

Types concat(const InferContext& ctx) {
  if (ctx.opset() >= 4 && !ctx.has_attr("axis")) throw_bad_input("{} attribute axis is required", ctx.where());
  int32_t elem = 0;
  std::vector<const Dims*> known;
  bool all_ranked = true;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const TypeInfo& t = ctx.input_type(i);
    if (elem == 0) elem = t.elem_type;
    if (t.shape) known.push_back(&*t.shape);
    else all_ranked = false;
  }
  if (known.empty()) return {tensor_type(elem, std::nullopt)};
  Dims out = concat_dims(ctx, known, ctx.attr_int("axis", 1));
  if (!all_ranked) out[static_cast<size_t>(normalize_axis(ctx, ctx.attr_int("axis", 1), static_cast<int64_t>(out.size())))] = unknown_dim();
  return {tensor_type(elem, out)};
}

Types split(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  Types out(ctx.num_outputs(), like(x, std::nullopt));
  if (!x.shape) return out;
  const auto axis = static_cast<size_t>(normalize_axis(ctx, ctx.attr_int("axis", 0), static_cast<int64_t>(x.shape->size())));
  std::optional<std::vector<int64_t>> sizes = std::vector<int64_t>{};  // empty: equal parts
  if (ctx.opset() < 13) sizes = ctx.attr_ints("split");
  if ((ctx.opset() >= 13 || (ctx.opset() == 1 && sizes->empty())) && ctx.has_input(1)) sizes = input_ints(ctx, 1, "split");
  const Dims parts = sizes ? split_dims(ctx, (*x.shape)[axis], std::move(*sizes)) : unknown_dims(ctx.num_outputs());
  for (size_t i = 0; i < out.size() && i < parts.size(); ++i) {
    Dims d = *x.shape;
    d[axis] = parts[i];
    out[i] = like(x, d);
  }
  return out;
}

Types slice(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (!x.shape) return {like(x, std::nullopt)};
  const auto rank = static_cast<int64_t>(x.shape->size());
  std::optional<std::vector<int64_t>> starts, ends, axes = std::vector<int64_t>{}, steps = std::vector<int64_t>{};
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts"), ends = ctx.attr_ints("ends"), axes = ctx.attr_ints("axes");
  } else {
    starts = input_ints(ctx, 1, "starts"), ends = input_ints(ctx, 2, "ends");
    if (ctx.has_input(3)) axes = input_ints(ctx, 3, "axes");
    if (ctx.has_input(4)) steps = input_ints(ctx, 4, "steps");
  }
  Dims out = *x.shape;
  if (starts && ends && axes && steps) {
    for (const SliceAxis& s : slice_axes(ctx, *starts, *ends, *axes, *steps, rank)) out[s.axis] = slice_dim(out[s.axis], s);
    return {like(x, out)};
  }
  // Some arguments unknown: the axes they name (0, 1, ... when axes is omitted) lose their size.
  std::optional<int64_t> n = starts ? std::optional<int64_t>(static_cast<int64_t>(starts->size())) : input_length(ctx, 1);
  if (!axes || (axes->empty() && !n)) return {like(x, unknown_dims(out.size()))};
  if (axes->empty()) {
    for (int64_t i = 0; i < *n && i < rank; ++i) axes->push_back(i);
  }
  for (int64_t a : *axes) out[static_cast<size_t>(normalize_axis(ctx, a, rank))] = unknown_dim();
  return {like(x, out)};
}

Types pad(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const std::string mode = ctx.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap") {
    throw_bad_input("{} unknown mode '{}' (expected constant, reflect, edge or wrap)", ctx.where(), mode);
  }
  if (!x.shape) return {like(x, std::nullopt)};
  const auto rank = static_cast<int64_t>(x.shape->size());
  const std::optional<std::vector<int64_t>> pads =
      ctx.opset() >= 11 ? input_ints(ctx, 1, "pads") : ctx.attr_ints(ctx.opset() == 1 ? "paddings" : "pads");
  const bool axes_given = ctx.opset() >= 18 && ctx.has_input(3);
  const std::optional<std::vector<int64_t>> axes = axes_given ? input_ints(ctx, 3, "axes") : std::nullopt;
  if (pads && (axes || !axes_given)) return {like(x, pad_dims(ctx, *x.shape, pad_amounts(ctx, *pads, axes, rank), mode))};
  if (!axes) return {like(x, unknown_dims(x.shape->size()))};
  Dims out = *x.shape;
  for (int64_t a : *axes) out[static_cast<size_t>(normalize_axis(ctx, a, rank))] = unknown_dim();
  return {like(x, out)};
}

Types compress(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  const TypeInfo& cond = ctx.input_type(1);
  if (cond.shape && cond.shape->size() != 1) throw_bad_input("{} condition must be 1-D, got {}", ctx.where(), dims_to_string(*cond.shape));
  const ir::Tensor* c = ctx.input_value(1);
  const ir::Dim picked = c ? ir::Dim::of(count_nonzero(*c)) : unknown_dim();
  if (!ctx.has_attr("axis")) return {like(x, Dims{picked})};
  if (!x.shape) return {like(x, std::nullopt)};
  Dims out = *x.shape;
  out[static_cast<size_t>(normalize_axis(ctx, ctx.attr_int("axis", 0), static_cast<int64_t>(out.size())))] = picked;
  return {like(x, out)};
}

Types trilu(const InferContext& ctx) {
  const TypeInfo& x = ctx.input_type(0);
  if (x.shape && x.shape->size() < 2) throw_bad_input("{} input must have rank 2 or more, got {}", ctx.where(), dims_to_string(*x.shape));
  return {x};
}

Types gather(const InferContext& ctx) {
  const TypeInfo& data = ctx.input_type(0);
  const TypeInfo& indices = ctx.input_type(1);
  if (data.shape && data.shape->empty()) throw_bad_input("{} data must have rank 1 or more", ctx.where());
  if (!data.shape || !indices.shape) return {like(data, std::nullopt)};
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), static_cast<int64_t>(data.shape->size()));
  return {like(data, gather_dims(*data.shape, *indices.shape, axis))};
}

Types gather_elements(const InferContext& ctx) {
  const TypeInfo& data = ctx.input_type(0);
  const TypeInfo& indices = ctx.input_type(1);
  if (data.shape && indices.shape && data.shape->size() != indices.shape->size()) {
    throw_bad_input("{} indices {} and data {} differ in rank", ctx.where(), dims_to_string(*indices.shape), dims_to_string(*data.shape));
  }
  if (data.shape) normalize_axis(ctx, ctx.attr_int("axis", 0), static_cast<int64_t>(data.shape->size()));
  return {like(data, indices.shape ? indices.shape : data.shape ? std::optional<Dims>(unknown_dims(data.shape->size())) : std::nullopt)};
}

Types gather_nd(const InferContext& ctx) {
  const TypeInfo& data = ctx.input_type(0);
  const TypeInfo& indices = ctx.input_type(1);
  if (!data.shape || !indices.shape || indices.shape->empty() || !indices.shape->back().value) return {like(data, std::nullopt)};
  const Dims& ds = *data.shape;
  const Dims& is = *indices.shape;
  const int64_t b = ctx.opset() >= 12 ? ctx.attr_int("batch_dims", 0) : 0;
  const auto q = static_cast<int64_t>(is.size()), r = static_cast<int64_t>(ds.size()), k = *is.back().value;
  if (b < 0 || b >= std::min(q, r)) throw_bad_input("{} batch_dims {} must be below the ranks of data ({}) and indices ({})", ctx.where(), b, r, q);
  if (k < 1 || b + k > r) throw_bad_input("{} index tuples of length {} do not fit data of rank {} after {} batch dims", ctx.where(), k, r, b);
  Dims out(is.begin(), is.end() - 1);
  for (size_t d = 0; d < static_cast<size_t>(b); ++d) {
    if (out[d].value && ds[d].value && *out[d].value != *ds[d].value) {
      throw_bad_input("{} batch dims of indices {} and data {} differ", ctx.where(), dims_to_string(is), dims_to_string(ds));
    }
    if (!out[d].value && ds[d].value) out[d] = ds[d];
  }
  out.insert(out.end(), ds.begin() + b + k, ds.end());
  return {like(data, out)};
}

Types scatter_elements(const InferContext& ctx) {
  const TypeInfo& data = ctx.input_type(0);
  const TypeInfo& indices = ctx.input_type(1);
  const TypeInfo& updates = ctx.input_type(2);
  if (indices.shape && updates.shape) {
    bool same = indices.shape->size() == updates.shape->size();
    for (size_t d = 0; same && d < indices.shape->size(); ++d) {
      const ir::Dim &a = (*indices.shape)[d], &u = (*updates.shape)[d];
      same = !(a.value && u.value && *a.value != *u.value);
    }
    if (!same) {
      throw_bad_input("{} indices {} and updates {} differ in shape", ctx.where(), dims_to_string(*indices.shape), dims_to_string(*updates.shape));
    }
  }
  if (data.shape && indices.shape && data.shape->size() != indices.shape->size()) {
    throw_bad_input("{} indices {} and data {} differ in rank", ctx.where(), dims_to_string(*indices.shape), dims_to_string(*data.shape));
  }
  return {data};
}

Types one_hot(const InferContext& ctx) {
  const TypeInfo& indices = ctx.input_type(0);
  const int32_t elem = ctx.input_type(2).elem_type;
  if (!indices.shape) return {tensor_type(elem, std::nullopt)};
  ir::Dim depth;
  if (const ir::Tensor* t = ctx.input_value(1)) {
    if (t->numel() != 1) throw_bad_input("{} depth must hold one value, has {}", ctx.where(), t->numel());
    const double d = t->element_as_double(0);
    if (!(d >= 1 && d < 9.0e15)) throw_bad_input("{} depth must be a positive count, got {}", ctx.where(), d);
    depth = ir::Dim::of(static_cast<int64_t>(d));
  }
  Dims out = *indices.shape;
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), static_cast<int64_t>(out.size()) + 1);
  out.insert(out.begin() + axis, depth);
  return {tensor_type(elem, out)};
}

Types nonzero(const InferContext& ctx) {
  const std::optional<int64_t> rank = rank_of(ctx.input_type(0));
  const ir::Tensor* x = ctx.input_value(0);
  return {tensor_type(static_cast<int32_t>(ir::DType::kInt64),
                      Dims{dim_from(rank), x ? ir::Dim::of(count_nonzero(*x)) : unknown_dim()})};
}

}  // namespace

void register_tensor_index_shapes(OpRegistry& r) {
  r.set_infer("Concat", concat);
  r.set_infer("Split", split);
  r.set_infer("Slice", slice);
  r.set_infer("Pad", pad);
  r.set_infer("Compress", compress);
  r.set_infer("Trilu", trilu);
  r.set_infer("Gather", gather);
  r.set_infer("GatherElements", gather_elements);
  r.set_infer("GatherND", gather_nd);
  r.set_infer("Scatter", scatter_elements);
  r.set_infer("ScatterElements", scatter_elements);
  r.set_infer("ScatterND", [](const InferContext& ctx) { return same_as_input(ctx); });
  r.set_infer("OneHot", one_hot);
  r.set_infer("NonZero", nonzero);
}

}  // namespace scalec::kernels
