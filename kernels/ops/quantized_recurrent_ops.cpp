// com.microsoft DynamicQuantizeLSTM (version 1), what ONNX Runtime's quantize_dynamic writes for
// an LSTM (passes/quantize/recurrent_quant.h writes it too). Inputs: X, W [D, I, 4H], R [D, H, 4H]
// (int8 or uint8, transposed against LSTM's), B, sequence_lens, initial_h, initial_c, P, then
// W_scale, W_zero_point, R_scale, R_zero_point, each [D] (per direction) or [D, 4H] (per gate row).
// The attributes are LSTM's less layout (always 0). ONNX Runtime quantizes X and h to uint8 at each
// step; here W and R are dequantized and the float LSTM (kernels/cpu/recurrent.h) runs, so the two
// differ by that activation rounding only. Not differentiable: integer weights have no gradient.
#include <string>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/recurrent.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/quantized_recurrent_op.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

// The integer at flat index i of an int8 or uint8 tensor.
int32_t integer_at(const Tensor& t, size_t i) {
  return t.dtype() == DType::kInt8 ? t.values<int8_t>()[i] : t.values<uint8_t>()[i];
}

// q [D, C, G] (G = 4H) with scale/zero point [D] or [D, G] as float [D, G, C], LSTM's layout.
Tensor dequantize_transposed(const OpContext& ctx, size_t qi, size_t si, size_t zi, const char* name) {
  const Tensor& q = ctx.input(qi);
  const Tensor& scale = ctx.input(si);
  const Tensor* zp = ctx.has_input(zi) ? &ctx.input(zi) : nullptr;
  if (q.rank() != 3 || (q.dtype() != DType::kInt8 && q.dtype() != DType::kUInt8)) {
    throw_bad_input("{} {} must be int8 or uint8 of rank 3, got {} {}", ctx.where(), name, ir::dtype_name(q.dtype()),
                    ir::shape_to_string(q.shape()));
  }
  const int64_t d = q.shape()[0], c = q.shape()[1], g = q.shape()[2];
  const bool per_row = scale.rank() == 2;
  const std::vector<int64_t> want = per_row ? std::vector<int64_t>{d, g} : std::vector<int64_t>{d};
  if (scale.dtype() != DType::kFloat || scale.shape() != want) {
    throw_bad_input("{} {}_scale must be float [{}] or [{}, {}], got {} {}", ctx.where(), name, d, d, g,
                    ir::dtype_name(scale.dtype()), ir::shape_to_string(scale.shape()));
  }
  if (zp && (zp->dtype() != q.dtype() || zp->shape() != scale.shape())) {
    throw_bad_input("{} {}_zero_point must be {} of the scale's shape {}, got {} {}", ctx.where(), name,
                    ir::dtype_name(q.dtype()), ir::shape_to_string(scale.shape()), ir::dtype_name(zp->dtype()),
                    ir::shape_to_string(zp->shape()));
  }
  Tensor w(DType::kFloat, {d, g, c});
  auto s = scale.values<float>();
  auto out = w.mutable_values<float>();
  for (int64_t k = 0; k < d; ++k) {
    for (int64_t r = 0; r < g; ++r) {
      const size_t p = static_cast<size_t>(per_row ? k * g + r : k);
      const int32_t z = zp ? integer_at(*zp, p) : 0;
      for (int64_t j = 0; j < c; ++j) {
        out[static_cast<size_t>((k * g + r) * c + j)] =
            s[p] * static_cast<float>(integer_at(q, static_cast<size_t>((k * c + j) * g + r)) - z);
      }
    }
  }
  return w;
}

std::vector<Tensor> dynamic_quantize_lstm_forward(const OpContext& ctx) {
  const RnnAttrs a = recurrent_attrs(ctx);
  if (ctx.input(0).dtype() != DType::kFloat) {
    throw_bad_input("{} X must be float, got {}", ctx.where(), ir::dtype_name(ctx.input(0).dtype()));
  }
  const Tensor w = dequantize_transposed(ctx, 1, 8, 9, "W");
  const Tensor r = dequantize_transposed(ctx, 2, 10, 11, "R");
  RnnInputs in = recurrent_inputs(ctx, RnnCell::kLstm);
  in.w = &w;
  in.r = &r;
  RnnOutputs o = rnn_forward_cpu(ctx.pool(), a, in, ctx.where());
  std::vector<Tensor> out(ctx.num_outputs());
  if (!out.empty() && ctx.output_requested(0)) out[0] = std::move(o.y);
  if (out.size() > 1 && ctx.output_requested(1)) out[1] = std::move(o.y_h);
  if (out.size() > 2 && ctx.output_requested(2)) out[2] = std::move(o.y_c);
  return out;
}

// Y [S, D, N, H], Y_h and Y_c [D, N, H]; H from hidden_size, else R's axis 1 ([D, H, 4H]).
std::vector<ir::TypeInfo> dynamic_quantize_lstm_rule(const InferContext& ctx) {
  const RnnAttrs a = recurrent_attrs(ctx);
  const ir::TypeInfo& x = ctx.input_type(0);
  const ir::TypeInfo& r = ctx.input_type(2);
  shapes::Dims xd = x.shape && x.shape->size() == 3 ? *x.shape : shapes::unknown_dims(3);
  ir::Dim h = a.hidden_size >= 0 ? ir::Dim::of(a.hidden_size) : shapes::unknown_dim();
  if (!h.value && r.shape && r.shape->size() == 3) h = (*r.shape)[1];
  const ir::Dim d = ir::Dim::of(a.num_directions);
  std::vector<ir::TypeInfo> out;
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    out.push_back(shapes::tensor_type(x.elem_type, i == 0 ? shapes::Dims{xd[0], d, xd[1], h} : shapes::Dims{d, xd[1], h}));
  }
  return out;
}

}  // namespace

void register_quantized_recurrent_ops(OpRegistry& r) {
  r.add("DynamicQuantizeLSTM", 1, 1, dynamic_quantize_lstm_forward, kMicrosoftDomain);
  r.set_infer("DynamicQuantizeLSTM", dynamic_quantize_lstm_rule, kMicrosoftDomain);
}

}  // namespace scalec::kernels
