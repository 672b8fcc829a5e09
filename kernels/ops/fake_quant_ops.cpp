// FakeQuantize (domain com.scalec, version 1): quantize then dequantize in one differentiable op,
// for quantization-aware training. Inputs: X (float/double), scale (scalar, or 1-D per channel
// along `axis`), zero_point (optional, any integer type, the scale's shape). Attributes: qmin, qmax
// (the integer range), axis (default 1), grad_scale (the factor of the scale gradient, default 1),
// lsq (1: grad_scale = 1 / sqrt(n * qmax), n the elements per channel or per tensor, as LSQ
// prescribes). Forward, shape rule and backward live here together: the op has no ONNX schema.
// An exported model carries QuantizeLinear -> DequantizeLinear instead (passes/quantize/fake_quant_graph.h).
#include <cmath>

#include "ir/error.h"
#include "kernels/cpu/fake_quant.h"
#include "kernels/ops/grad_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/fake_quant_op.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

FakeQuantArgs args_of(const OpContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  FakeQuantArgs a;
  a.scale = &ctx.input(1);
  a.zero_point = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (!ctx.has_attr("qmin") || !ctx.has_attr("qmax")) throw_bad_input("{} needs the qmin and qmax attributes", ctx.where());
  a.qmin = ctx.attr_int("qmin", 0);
  a.qmax = ctx.attr_int("qmax", 0);
  a.axis = a.scale->numel() > 1 ? normalize_axis(ctx, ctx.attr_int("axis", 1), x.rank()) : 0;
  return a;
}

std::vector<ir::Tensor> fake_quant_grad(const GradContext& ctx) {
  std::vector<ir::Tensor> d = grads::none(ctx.num_inputs());
  const ir::Tensor* dy = ctx.doutput(0);
  if (dy == nullptr || !(ctx.wants_grad(0) || ctx.wants_grad(1))) return d;
  const FakeQuantArgs a = args_of(ctx);
  double grad_scale = ctx.attr_float("grad_scale", 1.0f);
  if (ctx.attr_int("lsq", 0) != 0) {
    const double n = static_cast<double>(ctx.input(0).numel()) / static_cast<double>(a.scale->numel());
    grad_scale = 1.0 / std::sqrt(n * static_cast<double>(a.qmax));
  }
  fake_quant_backward_cpu(ctx.pool(), ctx.input(0), a, *dy, grad_scale, ctx.wants_grad(0) ? &d[0] : nullptr,
                          ctx.wants_grad(1) ? &d[1] : nullptr, ctx.where());
  return d;
}

}  // namespace

void register_fake_quant_ops(OpRegistry& r) {
  r.add("FakeQuantize", 1, 1, [](const OpContext& ctx) {
    return std::vector<ir::Tensor>{fake_quant_forward_cpu(ctx.pool(), ctx.input(0), args_of(ctx), ctx.where())};
  }, kFakeQuantDomain);
  r.set_infer("FakeQuantize", [](const InferContext& ctx) { return shapes::same_as_input(ctx); }, kFakeQuantDomain);
  r.set_backward("FakeQuantize", fake_quant_grad, kFakeQuantDomain);
}

}  // namespace scalec::kernels
