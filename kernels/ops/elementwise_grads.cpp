// Backward rules of the elementwise family: Add, Sub, Mul, Div, Pow (numpy broadcasting, and the
// legacy broadcast/axis attributes of opsets 1-6), the variadic Sum, Mean, Max, Min, and Where.
// Each operand's gradient is summed over the axes broadcasting expanded (grads::sum_to_shape).
// Max/Min ties: the gradient is split evenly among the operands equal to the output (as
// torch.maximum/minimum do), so the rule is symmetric and the sum of the parts is dy.
#include <cmath>
#include <type_traits>

#include "ir/error.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// B as the binary forward reads it: opsets 1-6 with broadcast=1 line B up with A at `axis` by
// giving it trailing 1s (legacy_broadcast_padding); otherwise B itself.
Tensor legacy_rhs(const GradContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset() >= 7 || a.shape() == b.shape() || ctx.attr_int("broadcast", 0) == 0) return b;
  std::vector<int64_t> shape = b.shape();
  shape.resize(shape.size() + static_cast<size_t>(legacy_broadcast_padding(ctx, a.rank(), b.rank())), 1);
  return Tensor(b.dtype(), shape, b.storage());
}

// g (output shape) summed to `seen`, the shape the forward broadcast the input from, and given
// the input's own shape `in` (they differ only by the legacy trailing 1s).
Tensor reduce_to(const GradContext& ctx, const Tensor& g, const Tensor& seen, const Tensor& in) {
  return reshape_view(grads::sum_to_shape(ctx, g, seen.shape()), in.shape());
}

// Add, Sub, Mul, Div: y = a op b.
//   Add: da = dy, db = dy.  Sub: da = dy, db = -dy.  Mul: da = dy b, db = dy a.
//   Div: da = dy / b, db = -dy a / b^2 = -dy y / b.
enum class Arith { kAdd, kSub, kMul, kDiv };

BackwardFn arithmetic_grad(Arith kind) {
  return [kind](const GradContext& ctx) {
    std::vector<Tensor> d = grads::none(ctx.num_inputs());
    const Tensor* dy = ctx.doutput(0);
    if (dy == nullptr) return d;
    const Tensor& a = ctx.input(0);
    const Tensor& b_in = ctx.input(1);
    const Tensor b = legacy_rhs(ctx, a, b_in);
    if (ctx.wants_grad(0)) {
      Tensor da = kind == Arith::kMul ? grads::mul(ctx, *dy, b) : kind == Arith::kDiv ? grads::div(ctx, *dy, b) : *dy;
      d[0] = reduce_to(ctx, da, a, a);
    }
    if (ctx.wants_grad(1)) {
      Tensor db;
      switch (kind) {
        case Arith::kAdd:
          db = *dy;
          break;
        case Arith::kSub:
          db = grads::neg(ctx, *dy);
          break;
        case Arith::kMul:
          db = grads::mul(ctx, *dy, a);
          break;
        case Arith::kDiv:
          db = grads::neg(ctx, grads::div(ctx, grads::mul(ctx, *dy, ctx.output(0)), b));
          break;
      }
      d[1] = reduce_to(ctx, db, b, b_in);
    }
    return d;
  };
}

// Pow: y = a^b, the exponent of any numeric type (opset 12+), computed in double as the forward.
//   da = dy b a^(b-1)  (0 where b = 0, also at a = 0)
//   db = dy a^b ln(a)  (defined for a > 0; 0 at a = 0 with b >= 0, the limit, as PyTorch; NaN for a < 0)
std::vector<Tensor> pow_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const Tensor& a = ctx.input(0);
  const Tensor& b_in = ctx.input(1);
  const Tensor b = legacy_rhs(ctx, a, b_in);
  dispatch_float(a.dtype(), ctx.where(), [&](auto ta) {
    using A = decltype(ta);
    return dispatch_numeric(b.dtype(), ctx.where(), [&](auto tb) {
      using B = decltype(tb);
      if (ctx.wants_grad(0)) {
        Tensor f = binary_map<A, A, B>(ctx.pool(), a, b, ctx.where(), [](A x, B e) {
          const double de = static_cast<double>(e);
          return de == 0 ? A(0) : static_cast<A>(de * std::pow(static_cast<double>(x), de - 1));
        });
        d[0] = reduce_to(ctx, grads::mul(ctx, f, *dy), a, a);
      }
      if (ctx.wants_grad(1)) {
        Tensor f = binary_map<A, A, B>(ctx.pool(), a, b, ctx.where(), [](A x, B e) {
          const double dx = static_cast<double>(x), de = static_cast<double>(e);
          return (dx == 0 && de >= 0) ? A(0) : static_cast<A>(std::pow(dx, de) * std::log(dx));
        });
        Tensor db = reduce_to(ctx, grads::mul(ctx, f, *dy), b, b_in);
        d[1] = db.dtype() == b_in.dtype() ? db : cast_forward_cpu(ctx.pool(), db, b_in.dtype(), true, ctx.where());
      }
      return 0;
    });
  });
  return d;
}

// Sum and Mean: every operand gets dy (Mean: dy / n), summed to its shape.
BackwardFn sum_grad(bool mean) {
  return [mean](const GradContext& ctx) {
    std::vector<Tensor> d = grads::none(ctx.num_inputs());
    const Tensor* dy = ctx.doutput(0);
    if (dy == nullptr) return d;
    const Tensor g = mean ? grads::scale(ctx, *dy, 1.0 / static_cast<double>(ctx.num_inputs())) : *dy;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.wants_grad(i)) d[i] = grads::sum_to_shape(ctx, g, ctx.input(i).shape());
    }
    return d;
  };
}

// Max and Min: operand i gets dy where it equals the output y (NaN matches NaN), divided by the
// number of operands that do there (ties split evenly).
//   dx_i = sum_to_shape(dy * [x_i == y] / sum_j [x_j == y])
std::vector<Tensor> select_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const Tensor& y = ctx.output(0);
  dispatch_float(y.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    auto selected = [](T x, T out) { return (x == out || (std::isnan(x) && std::isnan(out))) ? T(1) : T(0); };
    std::vector<Tensor> masks;
    Tensor count;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      masks.push_back(binary_map<T, T, T>(ctx.pool(), ctx.input(i), y, ctx.where(), selected));
      count = i == 0 ? masks.back() : grads::add(ctx, count, masks.back());
    }
    // dy / count where some operand is selected (always, but for a NaN output with no NaN operand).
    Tensor share =
        binary_map<T, T, T>(ctx.pool(), *dy, count, ctx.where(), [](T g, T n) { return n > T(0) ? g / n : T(0); });
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.wants_grad(i)) d[i] = grads::sum_to_shape(ctx, grads::mul(ctx, share, masks[i]), ctx.input(i).shape());
    }
    return 0;
  });
  return d;
}

// Where(condition, X, Y): dX = dy where condition, dY = dy elsewhere, each summed to its shape.
std::vector<Tensor> where_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const Tensor& c = ctx.input(0);
  dispatch_float(dy->dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    for (size_t i : {size_t{1}, size_t{2}}) {
      if (!ctx.wants_grad(i)) continue;
      const bool when = i == 1;
      Tensor g =
          binary_map<T, bool, T>(ctx.pool(), c, *dy, ctx.where(), [when](bool k, T v) { return k == when ? v : T(0); });
      d[i] = grads::sum_to_shape(ctx, g, ctx.input(i).shape());
    }
    return 0;
  });
  return d;
}

}  // namespace

void register_elementwise_grads(OpRegistry& r) {
  r.set_backward("Add", arithmetic_grad(Arith::kAdd));
  r.set_backward("Sub", arithmetic_grad(Arith::kSub));
  r.set_backward("Mul", arithmetic_grad(Arith::kMul));
  r.set_backward("Div", arithmetic_grad(Arith::kDiv));
  r.set_backward("Pow", pow_grad_rule);
  r.set_backward("Sum", sum_grad(false));
  r.set_backward("Mean", sum_grad(true));
  r.set_backward("Max", select_grad_rule);
  r.set_backward("Min", select_grad_rule);
  r.set_backward("Where", where_grad_rule);
}

}  // namespace scalec::kernels
