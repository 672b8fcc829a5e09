#include "kernels/ops/grad_rules.h"

#include "ir/error.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/tensor_copy.h"

namespace scalec::kernels::grads {

ir::Tensor sum_to_shape(const OpContext& ctx, const ir::Tensor& g, const std::vector<int64_t>& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.rank() - static_cast<int64_t>(shape.size());
  if (lead < 0) throw_internal("{} cannot reduce a gradient of rank {} to rank {}", ctx.where(), g.rank(), shape.size());
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < g.rank(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  }
  ir::Tensor r = reduce_forward_cpu(ReduceKind::kSum, ctx.pool(), g, axes, true, ctx.where());
  return reshape_view(r, shape);
}

namespace {

template <typename Op>
ir::Tensor float_binary(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b, Op op) {
  if (a.dtype() != b.dtype()) {
    throw_internal("{} gradient arithmetic on {} and {}", ctx.where(), ir::dtype_name(a.dtype()), ir::dtype_name(b.dtype()));
  }
  return dispatch_float(a.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    return binary_map<T, T, T>(ctx.pool(), a, b, ctx.where(), [&](T x, T y) { return static_cast<T>(op(x, y)); });
  });
}

}  // namespace

ir::Tensor mul(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b) {
  return float_binary(ctx, a, b, [](auto x, auto y) { return x * y; });
}
ir::Tensor add(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b) {
  return float_binary(ctx, a, b, [](auto x, auto y) { return x + y; });
}
ir::Tensor sub(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b) {
  return float_binary(ctx, a, b, [](auto x, auto y) { return x - y; });
}
ir::Tensor div(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b) {
  return float_binary(ctx, a, b, [](auto x, auto y) { return x / y; });
}

ir::Tensor neg(const OpContext& ctx, const ir::Tensor& a) { return scale(ctx, a, -1.0); }

ir::Tensor scale(const OpContext& ctx, const ir::Tensor& a, double s) {
  return dispatch_float(a.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    return unary_map<T, T>(ctx.pool(), a, [s](T x) { return static_cast<T>(x * s); });
  });
}

}  // namespace scalec::kernels::grads
