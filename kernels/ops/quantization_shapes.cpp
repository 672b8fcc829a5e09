// Shape and type rules of the quantization family (see kernels/ops/shape_rules.h). Element types:
// QuantizeLinear gives the zero point's type, else output_dtype (21+), else uint8;
// DequantizeLinear the scale's type; QLinearConv and QLinearMatMul y_zero_point's type (else
// their quantized input's, as the kernels do); MatMulInteger and ConvInteger int32.
#include <optional>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/quant_linear.h"
#include "kernels/ops/nn_shape_rules.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using shapes::Dims;

int32_t type_number(DType t) { return static_cast<int32_t>(t); }

// The element type of input i (0 when missing or not recorded).
int32_t elem_of(const InferContext& ctx, size_t i) { return ctx.has_input(i) ? ctx.input_type(i).elem_type : 0; }

// The dims of `t` when every one is known.
std::optional<std::vector<int64_t>> static_dims(const ir::TypeInfo& t) {
  if (!t.shape || !shapes::all_known(*t.shape)) return std::nullopt;
  std::vector<int64_t> v;
  for (const ir::Dim& d : *t.shape) v.push_back(*d.value);
  return v;
}

// The checks of the kernels' layout_of where the shapes are known: the zero point has the scale's
// shape, and the scale fits x per tensor, per axis or blocked.
void check_quant_layout(const InferContext& ctx) {
  const std::optional<std::vector<int64_t>> x = static_dims(ctx.input_type(0));
  const std::optional<std::vector<int64_t>> scale = static_dims(ctx.input_type(1));
  if (ctx.has_input(2) && scale) {
    const std::optional<std::vector<int64_t>> zp = static_dims(ctx.input_type(2));
    auto numel = [](const std::vector<int64_t>& s) {
      int64_t n = 1;
      for (int64_t d : s) n *= d;
      return n;
    };
    if (zp && *zp != *scale && !(numel(*zp) == 1 && numel(*scale) == 1)) {
      throw_bad_input("{} zero point shape {} differs from scale shape {}", ctx.where(), ir::shape_to_string(*zp),
                      ir::shape_to_string(*scale));
    }
  }
  if (!x || !scale) return;
  const int64_t block_size = ctx.opset() >= 21 ? ctx.attr_int("block_size", 0) : 0;
  resolve_quant_layout(*x, *scale, ctx.attr_int("axis", 1), block_size, ctx.opset() >= 13, ctx.where());
}

std::vector<ir::TypeInfo> quantize_linear_rule(const InferContext& ctx) {
  check_quant_layout(ctx);
  const int64_t output_dtype = ctx.opset() >= 21 ? ctx.attr_int("output_dtype", 0) : 0;
  int32_t out = output_dtype != 0 ? static_cast<int32_t>(output_dtype) : type_number(DType::kUInt8);
  if (ctx.has_input(2)) {
    const int32_t zp = elem_of(ctx, 2);
    if (zp != 0 && output_dtype != 0 && zp != output_dtype) {
      throw_bad_input("{} output_dtype {} differs from the zero point's type {}", ctx.where(),
                      ir::dtype_name(static_cast<DType>(output_dtype)), ir::dtype_name(static_cast<DType>(zp)));
    }
    if (zp != 0 || output_dtype == 0) out = zp;  // an unrecorded zero point type leaves it unknown
  }
  return shapes::same_shape_as(ctx, 0, out);
}

std::vector<ir::TypeInfo> dequantize_linear_rule(const InferContext& ctx) {
  check_quant_layout(ctx);
  // Scales are float before opset 19; float16 and bfloat16 scales give outputs of their type.
  const int32_t out = ctx.opset() < 19 ? type_number(DType::kFloat) : elem_of(ctx, 1);
  return shapes::same_shape_as(ctx, 0, out);
}

std::vector<ir::TypeInfo> dynamic_quantize_linear_rule(const InferContext& ctx) {
  return {shapes::tensor_type(type_number(DType::kUInt8), ctx.input_type(0).shape),
          shapes::tensor_type(type_number(DType::kFloat), Dims{}),
          shapes::tensor_type(type_number(DType::kUInt8), Dims{})};
}

std::vector<ir::TypeInfo> matmul_integer_rule(const InferContext& ctx) {
  return {
      shapes::tensor_type(type_number(DType::kInt32), shapes::matmul_dims(ctx, ctx.input_type(0), ctx.input_type(1)))};
}

// QLinearMatMul: a (0), a_scale, a_zero_point, b (3), b_scale, b_zero_point, y_scale, y_zero_point (7).
std::vector<ir::TypeInfo> qlinear_matmul_rule(const InferContext& ctx) {
  const int32_t out = ctx.has_input(7) ? elem_of(ctx, 7) : elem_of(ctx, 0);
  return {shapes::tensor_type(out, shapes::matmul_dims(ctx, ctx.input_type(0), ctx.input_type(3)))};
}

std::vector<ir::TypeInfo> conv_integer_rule(const InferContext& ctx) {
  return {
      shapes::tensor_type(type_number(DType::kInt32), shapes::conv_dims(ctx, ctx.input_type(0), ctx.input_type(1)))};
}

// QLinearConv: x (0), x_scale, x_zero_point, w (3), w_scale, w_zero_point, y_scale, y_zero_point (7), B (8).
std::vector<ir::TypeInfo> qlinear_conv_rule(const InferContext& ctx) {
  const int32_t out = ctx.has_input(7) ? elem_of(ctx, 7) : elem_of(ctx, 0);
  std::optional<Dims> dims = shapes::conv_dims(ctx, ctx.input_type(0), ctx.input_type(3));
  if (dims && ctx.has_input(8) && ctx.input_type(8).shape) {
    const ir::TypeInfo& bias = ctx.input_type(8);
    if (bias.shape->size() != 1 || shapes::dims_differ((*bias.shape)[0], (*dims)[1])) {
      throw_bad_input("{} B {} must have shape [{}] (the output channels)", ctx.where(), ir::type_to_string(bias),
                      shapes::dim_string((*dims)[1]));
    }
  }
  return {shapes::tensor_type(out, std::move(dims))};
}

}  // namespace

void register_quantization_shapes(OpRegistry& r) {
  r.set_infer("QuantizeLinear", quantize_linear_rule);
  r.set_infer("DequantizeLinear", dequantize_linear_rule);
  r.set_infer("DynamicQuantizeLinear", dynamic_quantize_linear_rule);
  r.set_infer("MatMulInteger", matmul_integer_rule);
  r.set_infer("QLinearMatMul", qlinear_matmul_rule);
  r.set_infer("ConvInteger", conv_integer_rule);
  r.set_infer("QLinearConv", qlinear_conv_rule);
}

}  // namespace scalec::kernels
