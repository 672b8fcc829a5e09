// Backward rules of the recurrent ops (kernels/cpu/recurrent_backward.cpp): LSTM, GRU and RNN
// through time, every direction, layout, activation, clip, input_forget, linear_before_reset and
// sequence_lens; gradients for X, W, R, B, initial_h, and LSTM's initial_c and P (sequence_lens
// is an integer input: none). Gradients reach Y, Y_h and Y_c in any combination.
#include <vector>

#include "kernels/cpu/recurrent.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Backward through time; gradients for X, W, R, B, initial_h (and LSTM's initial_c, P).
std::vector<Tensor> recurrent_grad_rule(const GradContext& ctx) {
  std::vector<Tensor> d(ctx.num_inputs());
  const RnnAttrs a = recurrent_attrs(ctx);
  const Tensor* dy = ctx.doutput(0);
  const Tensor* dy_h = ctx.doutput(1);
  const Tensor* dy_c = a.cell == RnnCell::kLstm ? ctx.doutput(2) : nullptr;
  if (dy == nullptr && dy_h == nullptr && dy_c == nullptr) return d;
  const bool lstm = a.cell == RnnCell::kLstm;
  RnnGradWants w;
  w.dx = ctx.wants_grad(0), w.dw = ctx.wants_grad(1), w.dr = ctx.wants_grad(2), w.db = ctx.wants_grad(3);
  w.dinitial_h = ctx.wants_grad(5), w.dinitial_c = lstm && ctx.wants_grad(6), w.dp = lstm && ctx.wants_grad(7);
  if (!w.dx && !w.dw && !w.dr && !w.db && !w.dinitial_h && !w.dinitial_c && !w.dp) return d;
  RnnGrads g = rnn_backward_cpu(ctx.pool(), a, recurrent_inputs(ctx, a.cell), dy, dy_h, dy_c, w, ctx.where());
  Tensor* slots[] = {&g.dx, &g.dw, &g.dr, &g.db, nullptr, &g.dinitial_h, &g.dinitial_c, &g.dp};
  for (size_t i = 0; i < d.size() && i < 8; ++i) {
    if (slots[i] != nullptr && ctx.has_input(i) && ctx.wants_grad(i)) d[i] = std::move(*slots[i]);
  }
  return d;
}

}  // namespace

void register_recurrent_grads(OpRegistry& r) {
  for (const char* op : {"LSTM", "GRU", "RNN"}) r.set_backward(op, recurrent_grad_rule);
}

}  // namespace scalec::kernels
