// Activation family: pointwise activations (Relu 1+, LeakyRelu 1+, PRelu 1+, Elu 1+, Selu 1+,
// Celu 12+, Softplus 1+, Softsign 1+, Sigmoid 1+, Tanh 1+, HardSigmoid 1+, HardSwish 14+, Mish 18+,
// ThresholdedRelu 10+, Gelu 20+, Erf 9+), Clip (1-5 and 6-10 attributes, 11+ inputs, integers 12+),
// unary math (Sqrt Exp Log Neg Abs Reciprocal Floor Ceil 1+, Round 11+, Sign 9+, Sin Cos Tan Asin
// Acos Atan 7+, Sinh Cosh Asinh Acosh Atanh 9+), IsNaN 9+, IsInf 10+, Cast 1+ and CastLike 15+, all
// up to opset 22. Opset-1 `consumed_inputs` attributes are legacy and ignored.
#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ir/error.h"
#include "kernels/common/activation_math.h"
#include "kernels/cpu/activation.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

// A pointwise op; its alpha/beta/gamma attributes as activation_params reads them.
ForwardFn pointwise(UnaryOp op) {
  return [op](const OpContext& ctx) {
    return std::vector<Tensor>{
        activation_forward_cpu(ctx.pool(), op, activation_params(ctx), ctx.input(0), ctx.where())};
  };
}

std::vector<Tensor> gelu_op(const OpContext& ctx) {
  std::string approximate = ctx.attr_string("approximate", "none");
  if (approximate != "none" && approximate != "tanh") {
    throw_bad_input("{} approximate must be 'none' or 'tanh', got '{}'", ctx.where(), approximate);
  }
  UnaryOp op = approximate == "tanh" ? UnaryOp::kGeluTanh : UnaryOp::kGelu;
  return {activation_forward_cpu(ctx.pool(), op, {}, ctx.input(0), ctx.where())};
}

// Clip 1-10: bounds are float attributes. Opset 1-5 has no bound when one is absent; 6-10 defaults
// to the float range.
std::vector<Tensor> clip_attributes(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const DType t = x.dtype();
  if (t != DType::kFloat && t != DType::kDouble && t != DType::kFloat16 && t != DType::kBFloat16) {
    throw_bad_input("{} does not support element type {}", ctx.where(), ir::dtype_name(t));
  }
  const ClipBounds bounds = clip_attribute_bounds(ctx);
  auto bound = [&](const std::optional<float>& v) -> std::optional<Tensor> {
    if (!v) return std::nullopt;
    return cast_forward_cpu(ctx.pool(), Tensor::from_floats({}, std::span<const float>(&*v, 1)), t, false, ctx.where());
  };
  std::optional<Tensor> lo = bound(bounds.lo);
  std::optional<Tensor> hi = bound(bounds.hi);
  return {clip_forward_cpu(ctx.pool(), x, lo ? &*lo : nullptr, hi ? &*hi : nullptr, ctx.where())};
}

// Clip 11+: optional scalar inputs min (1) and max (2).
std::vector<Tensor> clip_inputs(const OpContext& ctx) {
  const Tensor* lo = ctx.has_input(1) ? &ctx.input(1) : nullptr;
  const Tensor* hi = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  return {clip_forward_cpu(ctx.pool(), ctx.input(0), lo, hi, ctx.where())};
}

// Cast 19+ and CastLike 19+ take `saturate` (float8 targets only); earlier opsets always saturate.
bool cast_saturate(const OpContext& ctx) { return ctx.opset() < 19 || ctx.attr_int("saturate", 1) != 0; }

}  // namespace

UnaryParams activation_params(const NodeAttrs& ctx) {
  // The ONNX defaults of the parameterized activations; every other op reads 0 (and ignores it).
  struct Defaults {
    std::string_view op_type;
    UnaryParams params;
  };
  static constexpr Defaults defaults[] = {
      {"LeakyRelu", {0.01f, 0, 0}},          {"Elu", {1.0f, 0, 0}},
      {"Selu", {kSeluAlpha, 0, kSeluGamma}}, {"Celu", {1.0f, 0, 0}},
      {"HardSigmoid", {0.2f, 0.5f, 0}},      {"ThresholdedRelu", {1.0f, 0, 0}},
  };
  UnaryParams d;
  for (const Defaults& e : defaults) {
    if (e.op_type == ctx.node().op_type()) d = e.params;
  }
  return {ctx.attr_float("alpha", d.alpha), ctx.attr_float("beta", d.beta), ctx.attr_float("gamma", d.gamma)};
}

Tensor prelu_slope(const NodeAttrs& ctx, const Tensor& x, const Tensor& slope) {
  // Opsets 1-6 had no numpy broadcasting: a 1-D slope of size C is per channel (axis 1).
  if (ctx.opset() < 7 && slope.rank() == 1 && slope.numel() > 1 && x.rank() > 2 && slope.shape()[0] == x.shape()[1]) {
    std::vector<int64_t> shape(static_cast<size_t>(x.rank() - 1), 1);
    shape[0] = slope.numel();
    return Tensor(slope.dtype(), shape, slope.storage());
  }
  return slope;
}

ClipBounds clip_attribute_bounds(const NodeAttrs& ctx) {
  const bool legacy = ctx.opset() < 6;
  auto bound = [&](const char* name, float fallback) -> std::optional<float> {
    if (!ctx.has_attr(name) && legacy) return std::nullopt;
    return ctx.attr_float(name, fallback);
  };
  return {bound("min", std::numeric_limits<float>::lowest()), bound("max", std::numeric_limits<float>::max())};
}

DType cast_target(const NodeAttrs& ctx) {
  const ir::Attribute* a = ctx.node().attribute("to");
  if (!a) throw_bad_input("{} attribute 'to' is required", ctx.where());
  if (a->kind == ir::Attribute::Kind::kString) {
    std::string name = a->s;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    for (int32_t v = 1; ir::dtype_is_known(v); ++v) {
      if (ir::dtype_name(static_cast<DType>(v)) == name) return static_cast<DType>(v);
    }
    throw_bad_input("{} 'to' names an unknown element type '{}'", ctx.where(), a->s);
  }
  if (a->i > std::numeric_limits<int32_t>::max() || !ir::dtype_is_known(static_cast<int32_t>(a->i))) {
    throw_bad_input("{} 'to' = {} is not an ONNX element type", ctx.where(), a->i);
  }
  return static_cast<DType>(a->i);
}

void register_activation_ops(OpRegistry& r) {
  r.add("Relu", 1, kLatestOpset, pointwise(UnaryOp::kRelu));
  r.add("LeakyRelu", 1, kLatestOpset, pointwise(UnaryOp::kLeakyRelu));
  r.add("Elu", 1, kLatestOpset, pointwise(UnaryOp::kElu));
  r.add("Selu", 1, kLatestOpset, pointwise(UnaryOp::kSelu));
  r.add("Celu", 12, kLatestOpset, pointwise(UnaryOp::kCelu));
  r.add("Softplus", 1, kLatestOpset, pointwise(UnaryOp::kSoftplus));
  r.add("Softsign", 1, kLatestOpset, pointwise(UnaryOp::kSoftsign));
  r.add("Sigmoid", 1, kLatestOpset, pointwise(UnaryOp::kSigmoid));
  r.add("Tanh", 1, kLatestOpset, pointwise(UnaryOp::kTanh));
  r.add("HardSigmoid", 1, kLatestOpset, pointwise(UnaryOp::kHardSigmoid));
  r.add("HardSwish", 14, kLatestOpset, pointwise(UnaryOp::kHardSwish));
  r.add("Mish", 18, kLatestOpset, pointwise(UnaryOp::kMish));
  r.add("ThresholdedRelu", 10, kLatestOpset, pointwise(UnaryOp::kThresholdedRelu));
  r.add("Erf", 9, kLatestOpset, pointwise(UnaryOp::kErf));
  r.add("Gelu", 20, kLatestOpset, gelu_op);
  r.add("PRelu", 1, kLatestOpset, [](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    return std::vector<Tensor>{prelu_forward_cpu(ctx.pool(), x, prelu_slope(ctx, x, ctx.input(1)), ctx.where())};
  });
  r.add("Clip", 1, 10, clip_attributes);
  r.add("Clip", 11, kLatestOpset, clip_inputs);

  struct Math {
    const char* name;
    int64_t since;
    UnaryOp op;
  };
  const Math math[] = {
      {"Sqrt", 1, UnaryOp::kSqrt},   {"Exp", 1, UnaryOp::kExp},     {"Log", 1, UnaryOp::kLog},
      {"Neg", 1, UnaryOp::kNeg},     {"Abs", 1, UnaryOp::kAbs},     {"Reciprocal", 1, UnaryOp::kReciprocal},
      {"Floor", 1, UnaryOp::kFloor}, {"Ceil", 1, UnaryOp::kCeil},   {"Round", 11, UnaryOp::kRound},
      {"Sign", 9, UnaryOp::kSign},   {"Sin", 7, UnaryOp::kSin},     {"Cos", 7, UnaryOp::kCos},
      {"Tan", 7, UnaryOp::kTan},     {"Asin", 7, UnaryOp::kAsin},   {"Acos", 7, UnaryOp::kAcos},
      {"Atan", 7, UnaryOp::kAtan},   {"Sinh", 9, UnaryOp::kSinh},   {"Cosh", 9, UnaryOp::kCosh},
      {"Asinh", 9, UnaryOp::kAsinh}, {"Acosh", 9, UnaryOp::kAcosh}, {"Atanh", 9, UnaryOp::kAtanh},
  };
  for (const Math& m : math) r.add(m.name, m.since, kLatestOpset, pointwise(m.op));

  r.add("IsNaN", 9, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{isnan_forward_cpu(ctx.pool(), ctx.input(0), ctx.where())};
  });
  r.add("IsInf", 10, kLatestOpset, [](const OpContext& ctx) {
    bool neg = ctx.attr_int("detect_negative", 1) != 0, pos = ctx.attr_int("detect_positive", 1) != 0;
    return std::vector<Tensor>{isinf_forward_cpu(ctx.pool(), ctx.input(0), neg, pos, ctx.where())};
  });
  r.add("Cast", 1, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{cast_forward_cpu(ctx.pool(), ctx.input(0), cast_target(ctx), cast_saturate(ctx), ctx.where())};
  });
  r.add("CastLike", 15, kLatestOpset, [](const OpContext& ctx) {
    const DType to = ctx.input(1).dtype();
    return std::vector<Tensor>{cast_forward_cpu(ctx.pool(), ctx.input(0), to, cast_saturate(ctx), ctx.where())};
  });
}

}  // namespace scalec::kernels
