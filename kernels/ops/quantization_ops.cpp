// Quantization ops: QuantizeLinear and DequantizeLinear (opsets 10-12 per tensor, 13-18 per axis,
// 19-20 float8 and saturate, 21-22 blocked, int4/uint4/int16/uint16 and output_dtype),
// DynamicQuantizeLinear (11+), MatMulInteger (10+), QLinearMatMul (10-20, 21-22 with float16 and
// bfloat16 scales; float8 operands are not implemented), ConvInteger and QLinearConv (10+).
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/quant_conv.h"
#include "kernels/cpu/quant_linear.h"
#include "kernels/cpu/quant_matmul.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

bool is_float8(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 ||
         t == DType::kFloat8E5M2FNUZ;
}

// The quantized types QuantizeLinear may produce and DequantizeLinear may read at `opset`
// (DequantizeLinear also reads int32).
bool quantized_type_allowed(DType t, int64_t opset) {
  if (t == DType::kInt8 || t == DType::kUInt8) return true;
  if (is_float8(t)) return opset >= 19;
  return opset >= 21 && (t == DType::kInt16 || t == DType::kUInt16 || t == DType::kInt4 || t == DType::kUInt4);
}

void check_scale_type(const OpContext& ctx, const Tensor& scale) {
  const DType t = scale.dtype();
  const bool ok = t == DType::kFloat || (ctx.opset() >= 19 && (t == DType::kFloat16 || t == DType::kBFloat16));
  if (!ok) throw_bad_input("{} does not support scale type {}", ctx.where(), ir::dtype_name(t));
}

const Tensor* optional_input(const OpContext& ctx, size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; }

// Scale layout from the axis / block_size attributes; the zero point must have the scale's shape.
QuantLayout layout_of(const OpContext& ctx, const Tensor& x, const Tensor& scale, const Tensor* zp) {
  if (zp && zp->shape() != scale.shape() && !(zp->numel() == 1 && scale.numel() == 1)) {
    throw_bad_input("{} zero point shape {} differs from scale shape {}", ctx.where(), ir::shape_to_string(zp->shape()),
                    ir::shape_to_string(scale.shape()));
  }
  const int64_t block_size = ctx.opset() >= 21 ? ctx.attr_int("block_size", 0) : 0;
  return resolve_quant_layout(x.shape(), scale.shape(), ctx.attr_int("axis", 1), block_size, ctx.opset() >= 13,
                              ctx.where());
}

std::vector<Tensor> quantize_linear(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = optional_input(ctx, 2);
  check_scale_type(ctx, scale);
  DType out = DType::kUInt8;
  const int64_t output_dtype = ctx.opset() >= 21 ? ctx.attr_int("output_dtype", 0) : 0;
  if (output_dtype != 0) out = static_cast<DType>(output_dtype);
  if (zp) {
    if (output_dtype != 0 && zp->dtype() != out) {
      throw_bad_input("{} output_dtype {} differs from the zero point's type {}", ctx.where(), ir::dtype_name(out),
                      ir::dtype_name(zp->dtype()));
    }
    out = zp->dtype();
  }
  if (!quantized_type_allowed(out, ctx.opset())) {
    throw_bad_input("{} does not support output type {}", ctx.where(), ir::dtype_name(out));
  }
  const bool saturate = ctx.opset() < 19 || ctx.attr_int("saturate", 1) != 0;
  const QuantLayout layout = layout_of(ctx, x, scale, zp);
  return {quantize_linear_forward_cpu(ctx.pool(), x, scale, zp, layout, out, saturate, ctx.where())};
}

std::vector<Tensor> dequantize_linear(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zp = optional_input(ctx, 2);
  check_scale_type(ctx, scale);
  if (x.dtype() != DType::kInt32 && !quantized_type_allowed(x.dtype(), ctx.opset())) {
    throw_bad_input("{} does not support input type {}", ctx.where(), ir::dtype_name(x.dtype()));
  }
  const QuantLayout layout = layout_of(ctx, x, scale, zp);
  return {dequantize_linear_forward_cpu(ctx.pool(), x, scale, zp, layout, ctx.where())};
}

QConvAttrs conv_attrs(const OpContext& ctx) {
  QConvAttrs a;
  a.auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  a.kernel_shape = ctx.attr_ints("kernel_shape");
  a.strides = ctx.attr_ints("strides");
  a.dilations = ctx.attr_ints("dilations");
  a.pads = ctx.attr_ints("pads");
  a.group = ctx.attr_int("group", 1);
  return a;
}

}  // namespace

void register_quantization_ops(OpRegistry& r) {
  // The kernels read ctx.opset() for what changed between versions; the ranges record the versions.
  for (auto [since, until] : {std::pair<int64_t, int64_t>{10, 12}, {13, 18}, {19, 20}, {21, kLatestOpset}}) {
    r.add("QuantizeLinear", since, until, quantize_linear);
    r.add("DequantizeLinear", since, until, dequantize_linear);
  }
  r.add("DynamicQuantizeLinear", 11, kLatestOpset, [](const OpContext& ctx) {
    return dynamic_quantize_linear_forward_cpu(ctx.pool(), ctx.input(0), ctx.where());
  });
  r.add("MatMulInteger", 10, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{matmul_integer_forward_cpu(ctx.pool(), ctx.input(0), ctx.input(1),
                                                          optional_input(ctx, 2), optional_input(ctx, 3), ctx.where())};
  });
  auto qlinear_matmul = [](const OpContext& ctx) {
    const Tensor& a_scale = ctx.input(1);
    const Tensor& b_scale = ctx.input(4);
    const Tensor& y_scale = ctx.input(6);
    for (const Tensor* s : {&a_scale, &b_scale, &y_scale}) {
      if (s->dtype() != DType::kFloat &&
          (ctx.opset() < 21 || (s->dtype() != DType::kFloat16 && s->dtype() != DType::kBFloat16))) {
        throw_bad_input("{} does not support scale type {}", ctx.where(), ir::dtype_name(s->dtype()));
      }
    }
    for (size_t i : {0, 3, 7}) {
      if (ctx.has_input(i) && is_float8(ctx.input(i).dtype())) {
        throw_bad_input("{} float8 operands are not implemented", ctx.where());
      }
    }
    return std::vector<Tensor>{qlinear_matmul_forward_cpu(ctx.pool(), ctx.input(0), a_scale, optional_input(ctx, 2),
                                                          ctx.input(3), b_scale, optional_input(ctx, 5), y_scale,
                                                          optional_input(ctx, 7), ctx.where())};
  };
  r.add("QLinearMatMul", 10, 20, qlinear_matmul);
  r.add("QLinearMatMul", 21, kLatestOpset, qlinear_matmul);
  r.add("ConvInteger", 10, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{conv_integer_forward_cpu(ctx.pool(), ctx.input(0), ctx.input(1), optional_input(ctx, 2),
                                                        optional_input(ctx, 3), conv_attrs(ctx), ctx.where())};
  });
  r.add("QLinearConv", 10, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{qlinear_conv_forward_cpu(ctx.pool(), ctx.input(0), ctx.input(1), optional_input(ctx, 2),
                                                        ctx.input(3), ctx.input(4), optional_input(ctx, 5),
                                                        ctx.input(6), optional_input(ctx, 7), optional_input(ctx, 8),
                                                        conv_attrs(ctx), ctx.where())};
  });
}

}  // namespace scalec::kernels
