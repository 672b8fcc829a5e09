// Backward rules of the activation family: dx = dy * f'(x) for the pointwise activations and unary
// math (derivatives of the activations beside their forward formulas in
// kernels/common/activation_math.h; Sigmoid, Tanh, Sqrt, Exp, Reciprocal and Tan read the forward
// output y), PRelu (to X and to the slope), Clip (to X, and to the min/max inputs of 11+) and Cast
// between float types. Kinks take the subgradient 0 except where noted (Relu at 0: 0; Abs at 0: 0).
// Float and double (the dtypes grad_rules computes in).
#include <cmath>
#include <limits>
#include <optional>

#include "ir/error.h"
#include "kernels/common/activation_math.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// dy * f(t) elementwise, where t (x or y) has dy's shape; f is generic over float and double.
template <typename F>
Tensor times(const GradContext& ctx, const Tensor& t, F f) {
  const Tensor& dy = *ctx.doutput(0);
  return dispatch_float(dy.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    return binary_map<T, T, T>(ctx.pool(), t, dy, ctx.where(), [&](T v, T g) { return static_cast<T>(g * f(v)); });
  });
}

// A one-input rule dx = dy * f(x, params) (from_y: f reads the output y instead of x), with the
// parameters the forward reads (activation_params).
template <typename F>
BackwardFn pointwise_grad(F f, bool from_y = false) {
  return [f, from_y](const GradContext& ctx) {
    std::vector<Tensor> dx = grads::none(ctx.num_inputs());
    if (!ctx.wants_grad(0) || ctx.doutput(0) == nullptr) return dx;
    const UnaryParams p = activation_params(ctx);
    dx[0] = times(ctx, from_y ? ctx.output(0) : ctx.input(0), [&](auto v) { return f(v, p); });
    return dx;
  };
}

// Casts p's fields to the element type of v.
template <typename T>
T alpha_of(T, const UnaryParams& p) {
  return static_cast<T>(p.alpha);
}
template <typename T>
T beta_of(T, const UnaryParams& p) {
  return static_cast<T>(p.beta);
}
template <typename T>
T gamma_of(T, const UnaryParams& p) {
  return static_cast<T>(p.gamma);
}

// Gelu: approximate = "none" (erf) or "tanh".
std::vector<Tensor> gelu_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> dx = grads::none(ctx.num_inputs());
  if (!ctx.wants_grad(0) || ctx.doutput(0) == nullptr) return dx;
  if (ctx.attr_string("approximate", "none") == "tanh") {
    dx[0] = times(ctx, ctx.input(0), [](auto v) { return gelu_tanh_grad(v); });
  } else {
    dx[0] = times(ctx, ctx.input(0), [](auto v) { return gelu_grad(v); });
  }
  return dx;
}

// PRelu: y = x < 0 ? slope * x : x, slope broadcast to X.
//   dx = dy * (x < 0 ? slope : 1);  dslope = sum over broadcast axes of dy * (x < 0 ? x : 0).
std::vector<Tensor> prelu_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const Tensor& x = ctx.input(0);
  const Tensor& slope_in = ctx.input(1);
  const Tensor slope = prelu_slope(ctx, x, slope_in);
  dispatch_float(x.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    if (ctx.wants_grad(0)) {
      Tensor factor =
          binary_map<T, T, T>(ctx.pool(), x, slope, ctx.where(), [](T v, T s) { return v < T(0) ? s : T(1); });
      d[0] = grads::mul(ctx, factor, *dy);
    }
    if (ctx.wants_grad(1)) {
      Tensor g =
          binary_map<T, T, T>(ctx.pool(), x, *dy, ctx.where(), [](T v, T gy) { return v < T(0) ? v * gy : T(0); });
      d[1] = reshape_view(grads::sum_to_shape(ctx, g, slope.shape()), slope_in.shape());
    }
    return 0;
  });
  return d;
}

// Which value Clip's output element took, exactly as clip_forward_cpu decides it: the low bound
// where x < lo, then the high bound where that is > hi (a NaN bound is always taken).
enum class ClipSource : uint8_t { kX, kLo, kHi };

template <typename T>
struct ClipRule {
  std::optional<T> lo, hi;
  ClipSource source(T v) const {
    ClipSource s = ClipSource::kX;
    if (lo && (v < *lo || std::isnan(*lo))) {
      s = ClipSource::kLo;
      v = *lo;
    }
    if (hi && (v > *hi || std::isnan(*hi))) s = ClipSource::kHi;
    return s;
  }
};

// Clip: dx = dy where x is inside [min, max] (ties at a bound keep x, as the forward does), else 0;
// from opset 11 the min/max inputs get the sum of dy over the elements clipped to them.
std::vector<Tensor> clip_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const Tensor& x = ctx.input(0);
  dispatch_float(x.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    ClipRule<T> rule;
    if (ctx.opset() < 11) {
      const ClipBounds b = clip_attribute_bounds(ctx);
      if (b.lo) rule.lo = static_cast<T>(*b.lo);
      if (b.hi) rule.hi = static_cast<T>(*b.hi);
    } else {
      if (ctx.has_input(1)) rule.lo = ctx.input(1).values<T>()[0];
      if (ctx.has_input(2)) rule.hi = ctx.input(2).values<T>()[0];
    }
    if (ctx.wants_grad(0)) {
      d[0] = binary_map<T, T, T>(ctx.pool(), x, *dy, ctx.where(),
                                 [&](T v, T g) { return rule.source(v) == ClipSource::kX ? g : T(0); });
    }
    for (size_t i : {size_t{1}, size_t{2}}) {
      if (!ctx.wants_grad(i)) continue;
      const ClipSource want = i == 1 ? ClipSource::kLo : ClipSource::kHi;
      auto xv = x.values<T>();
      auto gv = dy->values<T>();
      double sum = 0;
      for (size_t k = 0; k < xv.size(); ++k) sum += rule.source(xv[k]) == want ? static_cast<double>(gv[k]) : 0.0;
      Tensor db(x.dtype(), ctx.input(i).shape());
      db.mutable_values<T>()[0] = static_cast<T>(sum);
      d[i] = db;
    }
    return 0;
  });
  return d;
}

// Cast (and CastLike's input 0) between float types: dx = dy cast back to x's type. CastLike's
// target_type input only lends its dtype: zero gradient.
std::vector<Tensor> cast_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  if (ctx.wants_grad(0)) d[0] = cast_forward_cpu(ctx.pool(), *dy, ctx.input(0).dtype(), true, ctx.where());
  if (ctx.wants_grad(1)) d[1] = Tensor(ctx.input(1).dtype(), ctx.input(1).shape());
  return d;
}

std::vector<Tensor> neg_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  if (ctx.wants_grad(0) && ctx.doutput(0) != nullptr) d[0] = grads::neg(ctx, *ctx.doutput(0));
  return d;
}

}  // namespace

void register_activation_grads(OpRegistry& r) {
  r.set_backward("Relu", pointwise_grad([](auto x, const UnaryParams&) { return relu_grad(x); }));
  r.set_backward("LeakyRelu",
                 pointwise_grad([](auto x, const UnaryParams& p) { return leaky_relu_grad(x, alpha_of(x, p)); }));
  r.set_backward("Elu", pointwise_grad([](auto x, const UnaryParams& p) { return elu_grad(x, alpha_of(x, p)); }));
  r.set_backward("Selu", pointwise_grad([](auto x, const UnaryParams& p) {
                   return selu_grad(x, alpha_of(x, p), gamma_of(x, p));
                 }));
  r.set_backward("Celu", pointwise_grad([](auto x, const UnaryParams& p) { return celu_grad(x, alpha_of(x, p)); }));
  r.set_backward("Softplus", pointwise_grad([](auto x, const UnaryParams&) { return softplus_grad(x); }));
  r.set_backward("Softsign", pointwise_grad([](auto x, const UnaryParams&) { return softsign_grad(x); }));
  r.set_backward("Sigmoid", pointwise_grad([](auto y, const UnaryParams&) { return sigmoid_grad_from_y(y); }, true));
  r.set_backward("Tanh", pointwise_grad([](auto y, const UnaryParams&) { return tanh_grad_from_y(y); }, true));
  r.set_backward("HardSigmoid", pointwise_grad([](auto x, const UnaryParams& p) {
                   return hard_sigmoid_grad(x, alpha_of(x, p), beta_of(x, p));
                 }));
  r.set_backward("HardSwish", pointwise_grad([](auto x, const UnaryParams&) { return hard_swish_grad(x); }));
  r.set_backward("Mish", pointwise_grad([](auto x, const UnaryParams&) { return mish_grad(x); }));
  r.set_backward("ThresholdedRelu",
                 pointwise_grad([](auto x, const UnaryParams& p) { return thresholded_relu_grad(x, alpha_of(x, p)); }));
  r.set_backward("Erf", pointwise_grad([](auto x, const UnaryParams&) { return erf_grad(x); }));
  r.set_backward("Gelu", gelu_grad_rule);
  r.set_backward("PRelu", prelu_grad_rule);
  r.set_backward("Clip", clip_grad_rule);
  r.set_backward("Cast", cast_grad_rule);
  r.set_backward("CastLike", cast_grad_rule);
  r.set_backward("Neg", neg_grad_rule);

  // Unary math: d/dx of each, one line each (std:: functions, as the forward kernel).
  auto from_x = [&](const char* op, auto f) {
    r.set_backward(op, pointwise_grad([f](auto x, const UnaryParams&) { return f(x); }));
  };
  auto from_y = [&](const char* op, auto f) {
    r.set_backward(op, pointwise_grad([f](auto y, const UnaryParams&) { return f(y); }, true));
  };
  using std::cos, std::sin, std::cosh, std::sinh, std::sqrt;
  from_y("Sqrt", [](auto y) { return decltype(y)(0.5) / y; });
  from_y("Exp", [](auto y) { return y; });
  from_x("Log", [](auto x) { return decltype(x)(1) / x; });
  from_x("Abs", [](auto x) { return sign(x); });
  from_y("Reciprocal", [](auto y) { return -y * y; });
  from_x("Sin", [](auto x) { return cos(x); });
  from_x("Cos", [](auto x) { return -sin(x); });
  from_y("Tan", [](auto y) { return decltype(y)(1) + y * y; });
  from_x("Asin", [](auto x) { return decltype(x)(1) / sqrt(decltype(x)(1) - x * x); });
  from_x("Acos", [](auto x) { return decltype(x)(-1) / sqrt(decltype(x)(1) - x * x); });
  from_x("Atan", [](auto x) { return decltype(x)(1) / (decltype(x)(1) + x * x); });
  from_x("Sinh", [](auto x) { return cosh(x); });
  from_x("Cosh", [](auto x) { return sinh(x); });
  from_x("Asinh", [](auto x) { return decltype(x)(1) / sqrt(x * x + decltype(x)(1)); });
  from_x("Acosh", [](auto x) { return decltype(x)(1) / sqrt(x * x - decltype(x)(1)); });
  from_x("Atanh", [](auto x) { return decltype(x)(1) / (decltype(x)(1) - x * x); });
}

}  // namespace scalec::kernels
