// Backward rules of the nn family, on the GEMM core (kernels/cpu/conv_backward.h,
// kernels/cpu/matmul_backward.h):
//   Conv, ConvTranspose  dX, dW, dB for 1-D to 3-D, groups, strides, dilations, pads, auto_pad
//                        (ConvTranspose also output_padding/output_shape): the forward's geometry
//                        is resolved again from the node, so both see the same pads.
//   Gemm                 dA, dB with transA/transB and alpha; dC = beta * dY summed to C's shape
//                        (0 where beta = 0: the forward ignores C then).
//   MatMul               dA, dB with 1-D operands and broadcast batch dimensions.
// Float and double; integer Gemm/MatMul carry no gradient (autodiff does not ask).
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_backward.h"
#include "kernels/cpu/matmul_backward.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Conv and ConvTranspose: the geometry as the forward resolves it, then the fused backward.
BackwardFn conv_grad(bool transpose) {
  return [transpose](const GradContext& ctx) {
    std::vector<Tensor> d = grads::none(ctx.num_inputs());
    const Tensor* dy = ctx.doutput(0);
    if (dy == nullptr) return d;
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const ConvAttrs attrs = conv_attrs(ctx);
    const ConvGeometry g = transpose ? conv_transpose_geometry(attrs, x.shape(), w.shape(), ctx.where())
                                     : conv_geometry(attrs, x.shape(), w.shape(), ctx.where());
    ConvGradWants wants;
    wants.dx = ctx.wants_grad(0);
    wants.dw = ctx.wants_grad(1);
    wants.db = ctx.has_input(2) && ctx.wants_grad(2);
    if (!wants.dx && !wants.dw && !wants.db) return d;
    ConvGrads r = transpose ? conv_transpose_backward_cpu(ctx.pool(), x, w, *dy, g, wants, ctx.where())
                            : conv_backward_cpu(ctx.pool(), x, w, *dy, g, wants, ctx.where());
    d[0] = std::move(r.dx);
    d[1] = std::move(r.dw);
    if (d.size() > 2) d[2] = std::move(r.db);
    return d;
  };
}

// Gemm: Y = alpha op(A) op(B) + beta C.
std::vector<Tensor> gemm_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr) return d;
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const bool trans_a = ctx.attr_int("transA", 0) != 0, trans_b = ctx.attr_int("transB", 0) != 0;
  const double alpha = ctx.attr_float("alpha", 1.0f), beta = ctx.attr_float("beta", 1.0f);
  if (ctx.wants_grad(0) || ctx.wants_grad(1)) {
    auto [da, db] = gemm_backward_cpu(ctx.pool(), a, b, *dy, trans_a, trans_b, alpha, ctx.wants_grad(0),
                                      ctx.wants_grad(1), ctx.where());
    d[0] = std::move(da);
    d[1] = std::move(db);
  }
  if (ctx.has_input(2) && ctx.wants_grad(2)) {
    const Tensor& c = ctx.input(2);
    // dC = beta * dY summed over the axes C was broadcast along ([M, N], [N], [M, 1], [1], scalar).
    d[2] = beta == 0.0 ? Tensor(c.dtype(), c.shape()) : grads::sum_to_shape(ctx, grads::scale(ctx, *dy, beta), c.shape());
  }
  return d;
}

// MatMul: numpy.matmul(A, B).
std::vector<Tensor> matmul_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d = grads::none(ctx.num_inputs());
  const Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || (!ctx.wants_grad(0) && !ctx.wants_grad(1))) return d;
  auto [da, db] = matmul_backward_cpu(ctx.pool(), ctx.input(0), ctx.input(1), *dy, ctx.wants_grad(0),
                                      ctx.wants_grad(1), ctx.where());
  d[0] = std::move(da);
  d[1] = std::move(db);
  return d;
}

}  // namespace

void register_nn_grads(OpRegistry& r) {
  r.set_backward("Conv", conv_grad(false));
  r.set_backward("ConvTranspose", conv_grad(true));
  r.set_backward("Gemm", gemm_grad_rule);
  r.set_backward("MatMul", matmul_grad_rule);
}

}  // namespace scalec::kernels
