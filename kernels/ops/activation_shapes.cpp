// Shape and type rules of the activation family (see kernels/ops/shape_rules.h): pointwise ops
// keep their input's type and shape; PRelu checks that the slope broadcasts to X; Clip's bounds
// are scalars of X's type; IsNaN/IsInf give bool; Cast and CastLike change only the element type.
#include "ir/error.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using shapes::Dims;

constexpr int32_t kBool = static_cast<int32_t>(ir::DType::kBool);

std::string_view elem_name(int32_t t) { return ir::dtype_name(static_cast<ir::DType>(t)); }

// Error when input `i` has a known element type other than X's known one.
void require_type_of_x(const InferContext& ctx, size_t i, const char* name) {
  const int32_t x = ctx.input_type(0).elem_type, t = ctx.input_type(i).elem_type;
  if (x != 0 && t != 0 && x != t) throw_bad_input("{} {} is {} but the input is {}", ctx.where(), name, elem_name(t), elem_name(x));
}

// PRelu: Y has X's shape; from opset 7 the slope must broadcast to it (opsets 1-6 also took a
// per-channel 1-D slope, which the kernel reshapes).
std::vector<ir::TypeInfo> prelu(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  const ir::TypeInfo& slope = ctx.input_type(1);
  require_type_of_x(ctx, 1, "slope");
  if (ctx.opset() < 7 || !x.shape) return {x};
  std::optional<Dims> out = shapes::broadcast(ctx, {&x, &slope});
  if (!out) return {x};
  bool fits = out->size() == x.shape->size();
  for (size_t i = 0; fits && i < out->size(); ++i) {
    const ir::Dim& d = (*x.shape)[i];
    fits = !d.value || !(*out)[i].value || *d.value == *(*out)[i].value;
  }
  if (!fits) {
    throw_bad_input("{} slope shape {} does not broadcast to the input shape {}", ctx.where(), ir::type_to_string(slope),
                    ir::type_to_string(x));
  }
  return {shapes::like(x, out)};
}

// Clip 11+: optional scalar bounds min (1) and max (2) of X's type.
std::vector<ir::TypeInfo> clip(const InferContext& ctx) {
  if (ctx.opset() >= 11) {
    const char* names[] = {"", "min", "max"};
    for (size_t i = 1; i <= 2; ++i) {
      if (!ctx.has_input(i)) continue;
      require_type_of_x(ctx, i, names[i]);
      const ir::TypeInfo& b = ctx.input_type(i);
      std::optional<int64_t> n = shapes::known_numel(b);
      if (n && *n != 1) throw_bad_input("{} {} must be a scalar, got {}", ctx.where(), names[i], ir::type_to_string(b));
    }
  }
  return shapes::same_as_input(ctx);
}

}  // namespace

void register_activation_shapes(OpRegistry& r) {
  const char* pointwise[] = {
      "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Sigmoid", "Tanh", "HardSigmoid",
      "HardSwish", "Mish", "ThresholdedRelu", "Erf", "Gelu", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal",
      "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
      "Acosh", "Atanh",
  };
  for (const char* op : pointwise) r.set_infer(op, [](const InferContext& ctx) { return shapes::same_as_input(ctx); });
  r.set_infer("PRelu", prelu);
  r.set_infer("Clip", clip);
  for (const char* op : {"IsNaN", "IsInf"}) {
    r.set_infer(op, [](const InferContext& ctx) { return shapes::same_shape_as(ctx, 0, kBool); });
  }
  r.set_infer("Cast", [](const InferContext& ctx) {
    return shapes::same_shape_as(ctx, 0, static_cast<int32_t>(cast_target(ctx)));
  });
  r.set_infer("CastLike", [](const InferContext& ctx) {
    return shapes::same_shape_as(ctx, 0, ctx.input_type(1).elem_type);
  });
}

}  // namespace scalec::kernels
