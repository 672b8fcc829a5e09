// Shape and type rules of the elementwise family (see kernels/ops/shape_rules.h): numpy
// broadcasting from opset 7, the legacy `broadcast`/`axis` attributes before (as the kernels read
// them); comparisons and logical ops give bool, everything else its inputs' shared type.
#include "ir/error.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using shapes::Dims;

constexpr int32_t kBool = static_cast<int32_t>(ir::DType::kBool);

std::string_view elem_name(int32_t t) { return ir::dtype_name(static_cast<ir::DType>(t)); }

// The element type inputs [first, last] share (0 when none is known); error when two known differ.
int32_t common_elem_type(const InferContext& ctx, size_t first, size_t last) {
  int32_t t = 0;
  for (size_t i = first; i <= last && i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    const int32_t e = ctx.input_type(i).elem_type;
    if (e == 0) continue;
    if (t != 0 && e != t) throw_bad_input("{} input types differ: {} and {}", ctx.where(), elem_name(t), elem_name(e));
    t = e;
  }
  return t;
}

// Error unless every known element type of the inputs is bool.
void require_bool(const InferContext& ctx, size_t first, size_t last, const char* what) {
  for (size_t i = first; i <= last && ctx.has_input(i); ++i) {
    const int32_t e = ctx.input_type(i).elem_type;
    if (e != 0 && e != kBool) throw_bad_input("{} {} must be bool, not {}", ctx.where(), what, elem_name(e));
  }
}

// Opsets 1-6 with broadcast=0: A and B must have one shape; each dim taken from whichever knows it.
std::optional<Dims> equal_shapes(const InferContext& ctx, const ir::TypeInfo& a, const ir::TypeInfo& b) {
  if (!a.shape) return b.shape;
  if (!b.shape) return a.shape;
  if (a.shape->size() != b.shape->size()) {
    throw_bad_input("{} inputs have ranks {} and {} and broadcast=0", ctx.where(), a.shape->size(), b.shape->size());
  }
  Dims out = *a.shape;
  for (size_t i = 0; i < out.size(); ++i) {
    const ir::Dim& d = (*b.shape)[i];
    if (out[i].value && d.value && *out[i].value != *d.value) {
      throw_bad_input("{} dimension {} is {} in A and {} in B and broadcast=0", ctx.where(), i, *out[i].value, *d.value);
    }
    if (!out[i].value && (d.value || out[i].param.empty())) out[i] = d;
  }
  return out;
}

// The output shape of a binary op: numpy broadcasting, or before opset 7 B padded with trailing 1s
// to line up with A at `axis` when broadcast=1.
std::optional<Dims> binary_shape(const InferContext& ctx) {
  const ir::TypeInfo& a = ctx.input_type(0);
  const ir::TypeInfo& b = ctx.input_type(1);
  if (ctx.opset() >= 7) return shapes::broadcast(ctx, {&a, &b});
  if (ctx.attr_int("broadcast", 0) == 0) return equal_shapes(ctx, a, b);
  if (!a.shape || !b.shape) return std::nullopt;
  ir::TypeInfo padded = b;
  const auto rank_a = static_cast<int64_t>(a.shape->size()), rank_b = static_cast<int64_t>(b.shape->size());
  padded.shape->resize(b.shape->size() + static_cast<size_t>(legacy_broadcast_padding(ctx, rank_a, rank_b)),
                       ir::Dim::of(1));
  return shapes::broadcast(ctx, {&a, &padded});
}

// Add, Sub, Mul, Div, Mod: one element type in, the same out.
std::vector<ir::TypeInfo> arithmetic(const InferContext& ctx) {
  const int32_t t = common_elem_type(ctx, 0, 1);
  return {shapes::tensor_type(t, binary_shape(ctx))};
}

// Pow: the base's type (the exponent may have another from opset 12).
std::vector<ir::TypeInfo> power(const InferContext& ctx) {
  return {shapes::tensor_type(ctx.input_type(0).elem_type, binary_shape(ctx))};
}

// Equal, Less, Greater, LessOrEqual, GreaterOrEqual.
std::vector<ir::TypeInfo> comparison(const InferContext& ctx) {
  common_elem_type(ctx, 0, 1);
  return {shapes::tensor_type(kBool, binary_shape(ctx))};
}

// And, Or, Xor.
std::vector<ir::TypeInfo> logical(const InferContext& ctx) {
  require_bool(ctx, 0, 1, "inputs");
  return {shapes::tensor_type(kBool, binary_shape(ctx))};
}

// Sum, Mean, Max, Min: any number of inputs, broadcast together.
std::vector<ir::TypeInfo> variadic(const InferContext& ctx) {
  if (ctx.num_inputs() == 0) throw_bad_input("{} needs at least one input", ctx.where());
  std::vector<const ir::TypeInfo*> types;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) types.push_back(&ctx.input_type(i));
  const int32_t t = common_elem_type(ctx, 0, ctx.num_inputs() - 1);
  return {shapes::tensor_type(t, shapes::broadcast(ctx, types))};
}

// Where(condition, X, Y): X's (and Y's) type, the three shapes broadcast.
std::vector<ir::TypeInfo> where_rule(const InferContext& ctx) {
  require_bool(ctx, 0, 0, "condition");
  const int32_t t = common_elem_type(ctx, 1, 2);
  return {shapes::tensor_type(t, shapes::broadcast(ctx, {&ctx.input_type(0), &ctx.input_type(1), &ctx.input_type(2)}))};
}

}  // namespace

void register_elementwise_shapes(OpRegistry& r) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Mod"}) r.set_infer(op, arithmetic);
  r.set_infer("Pow", power);
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) r.set_infer(op, comparison);
  for (const char* op : {"And", "Or", "Xor"}) r.set_infer(op, logical);
  r.set_infer("Not", [](const InferContext& ctx) {
    require_bool(ctx, 0, 0, "the input");
    return shapes::same_shape_as(ctx, 0, kBool);
  });
  for (const char* op : {"Sum", "Mean", "Max", "Min"}) r.set_infer(op, variadic);
  r.set_infer("Where", where_rule);
}

}  // namespace scalec::kernels
