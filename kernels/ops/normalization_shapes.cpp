// Shape and type rules of the normalization family (see kernels/ops/shape_rules.h): Y always has
// X's type; BatchNormalization's running and saved statistics have the types of input_mean and
// input_var; LayerNormalization's Mean and InvStdDev are X.shape[:axis] + [1, ...] in stash_type.
// Parameter counts are checked where the dims are known, as the kernels check them.
#include "ir/error.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using shapes::Dims;

// X's rank when known; error when it is below 2 (the kernels read [N, C, ...]).
std::optional<int64_t> nc_rank(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  std::optional<int64_t> rank = shapes::rank_of(x);
  if (rank && *rank < 2) {
    throw_bad_input("{} X must have rank 2 or more (N, C, ...), got {}", ctx.where(), ir::type_to_string(x));
  }
  return rank;
}

// X's channel count C when known.
std::optional<int64_t> channels(const InferContext& ctx) {
  return nc_rank(ctx) ? ctx.input_type(0).shape->at(1).value : std::nullopt;
}

// BatchNormalization: scale, B, input_mean and input_var hold C values, or C*D1*...*Dn (the
// per-activation mode of spatial=0), all as many.
std::vector<ir::TypeInfo> batch_norm(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  std::optional<int64_t> rank = nc_rank(ctx);
  std::optional<int64_t> count = shapes::known_numel(ctx.input_type(1));
  if (rank && count) {
    const Dims& dims = *x.shape;
    std::optional<int64_t> c = dims[1].value;
    std::optional<int64_t> spatial = shapes::known_numel(Dims(dims.begin() + 2, dims.end()));
    if (c && spatial && *count != *c && *count != *c * *spatial) {
      throw_bad_input("{} scale has {} elements; expected C = {} (or C*D = {} with spatial=0)", ctx.where(), *count, *c,
                      *c * *spatial);
    }
  }
  const char* names[] = {"", "", "B", "input_mean", "input_var"};
  for (size_t i = 2; i <= 4 && count; ++i) {
    std::optional<int64_t> n = shapes::known_numel(ctx.input_type(i));
    if (n && *n != *count) throw_bad_input("{} {} has {} elements, scale has {}", ctx.where(), names[i], *n, *count);
  }
  std::vector<ir::TypeInfo> out{x};
  // Outputs 1, 2 (running) and 3, 4 (saved, opsets 1-13): the types of input_mean and input_var.
  for (size_t i = 1; i < ctx.num_outputs(); ++i) out.push_back(ctx.input_type(i % 2 == 1 ? 3 : 4));
  return out;
}

// Error unless input `i` (scale or B) broadcasts to the normalized shape `norm` as the kernel
// reads it: leading 1s dropped, then each dim equal or 1 (checked where both are known).
void check_broadcasts_to(const InferContext& ctx, size_t i, const char* name, const Dims& norm) {
  const ir::TypeInfo& t = ctx.input_type(i);
  if (!t.shape) return;
  const Dims& s = *t.shape;
  size_t lead = 0;
  while (s.size() - lead > norm.size() && s[lead].value == 1) ++lead;
  bool ok = true;
  if (s.size() - lead > norm.size()) {
    if (!s[lead].value) return;  // an unknown leading dim may still be 1
    ok = false;
  }
  for (size_t k = lead; ok && k < s.size(); ++k) {
    const ir::Dim& want = norm[norm.size() - (s.size() - k)];
    ok = !s[k].value || !want.value || *s[k].value == *want.value || *s[k].value == 1;
  }
  if (!ok) {
    throw_bad_input("{} {} of shape {} does not broadcast to the normalized shape {}", ctx.where(), name,
                    ir::type_to_string(t), ir::type_to_string(shapes::like(t, norm)));
  }
}

// LayerNormalization: Y like X; Mean and InvStdDev of shape X.shape[:axis] + [1] * (rank - axis).
std::vector<ir::TypeInfo> layer_norm(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  const auto stat = static_cast<int32_t>(layer_norm_stat_dtype(ctx));
  std::optional<Dims> stat_dims;
  if (x.shape) {
    const auto rank = static_cast<int64_t>(x.shape->size());
    const auto axis = static_cast<size_t>(normalize_axis(ctx, ctx.attr_int("axis", -1), rank));
    const Dims norm(x.shape->begin() + static_cast<int64_t>(axis), x.shape->end());
    check_broadcasts_to(ctx, 1, "scale", norm);
    if (ctx.has_input(2)) check_broadcasts_to(ctx, 2, "B", norm);
    stat_dims = Dims(x.shape->begin(), x.shape->begin() + static_cast<int64_t>(axis));
    stat_dims->resize(x.shape->size(), ir::Dim::of(1));
  }
  return {x, shapes::tensor_type(stat, stat_dims), shapes::tensor_type(stat, stat_dims)};
}

// InstanceNormalization: scale and B hold C values.
std::vector<ir::TypeInfo> instance_norm(const InferContext& ctx) {
  std::optional<int64_t> c = channels(ctx);
  const std::optional<int64_t> scale = shapes::known_numel(ctx.input_type(1));
  const std::optional<int64_t> bias = shapes::known_numel(ctx.input_type(2));
  if (c && ((scale && *scale != *c) || (bias && *bias != *c))) {
    throw_bad_input("{} scale and B need C = {} elements, got {} and {}", ctx.where(), *c,
                    ir::type_to_string(ctx.input_type(1)), ir::type_to_string(ctx.input_type(2)));
  }
  return shapes::same_as_input(ctx);
}

// GroupNormalization: num_groups divides C; scale and bias hold C values (opsets 18-20 also
// num_groups, one per group).
std::vector<ir::TypeInfo> group_norm(const InferContext& ctx) {
  if (!ctx.has_attr("num_groups")) throw_bad_input("{} the attribute num_groups is required", ctx.where());
  const int64_t groups = ctx.attr_int("num_groups", 1);
  std::optional<int64_t> c = channels(ctx);
  if (c && (groups <= 0 || *c % groups != 0)) {
    throw_bad_input("{} num_groups = {} does not divide C = {}", ctx.where(), groups, *c);
  }
  const std::optional<int64_t> scale = shapes::known_numel(ctx.input_type(1));
  const std::optional<int64_t> bias = shapes::known_numel(ctx.input_type(2));
  auto fits = [&](std::optional<int64_t> n) {
    return !n || !c || *n == *c || (ctx.opset() < 21 && *n == groups);
  };
  if (!fits(scale) || !fits(bias) || (scale && bias && *scale != *bias)) {
    throw_bad_input("{} scale and bias need {} elements, got {} and {}", ctx.where(), c ? *c : groups,
                    ir::type_to_string(ctx.input_type(1)), ir::type_to_string(ctx.input_type(2)));
  }
  return shapes::same_as_input(ctx);
}

// Y has X's type; once X's rank is known, `read_axes(ctx, rank)` reads the axis arguments as the
// kernel does (and throws where they do not fit).
template <typename ReadAxes>
InferFn along_axes(ReadAxes read_axes) {
  return [read_axes](const InferContext& ctx) {
    if (std::optional<int64_t> rank = shapes::rank_of(ctx.input_type(0))) read_axes(ctx, *rank);
    return shapes::same_as_input(ctx);
  };
}

}  // namespace

void register_normalization_shapes(OpRegistry& r) {
  r.set_infer("BatchNormalization", batch_norm);
  r.set_infer("LayerNormalization", layer_norm);
  r.set_infer("InstanceNormalization", instance_norm);
  r.set_infer("GroupNormalization", group_norm);
  r.set_infer("LpNormalization", along_axes([](const NodeAttrs& ctx, int64_t rank) {
                return normalize_axis(ctx, ctx.attr_int("axis", -1), rank);
              }));
  r.set_infer("MeanVarianceNormalization", along_axes(mvn_axes));
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) r.set_infer(op, along_axes(softmax_axis));
}

}  // namespace scalec::kernels
