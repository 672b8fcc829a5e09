// Shape and type rules of the recurrent ops (see kernels/ops/shape_rules.h). With S steps, N batch,
// D directions and H hidden units: Y [S, D, N, H] and Y_h/Y_c [D, N, H] (layout 1: [N, S, D, H]
// and [N, D, H]); H from hidden_size, else R's last axis, else W's axis 1 over the gate count.
// W's direction count and X's input size are checked where known, as the kernel checks them.
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/recurrent.h"
#include "kernels/ops/nn_shape_rules.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using shapes::Dims;

// The dims of input i when its rank is `rank`; unknown dims when its shape is not recorded.
Dims dims_of(const InferContext& ctx, size_t i, size_t rank, const char* name) {
  if (!ctx.has_input(i) || !ctx.input_type(i).shape) return shapes::unknown_dims(rank);
  const Dims& d = *ctx.input_type(i).shape;
  if (d.size() != rank) {
    throw_bad_input("{} {} {} must have rank {}", ctx.where(), name, ir::type_to_string(ctx.input_type(i)), rank);
  }
  return d;
}

std::vector<ir::TypeInfo> recurrent_rule(const InferContext& ctx) {
  const RnnAttrs a = recurrent_attrs(ctx);
  const Dims x = dims_of(ctx, 0, 3, "X");
  const Dims w = dims_of(ctx, 1, 3, "W");
  const Dims r = dims_of(ctx, 2, 3, "R");
  const ir::Dim d = ir::Dim::of(a.num_directions);
  if (shapes::dims_differ(w[0], d)) {
    throw_bad_input("{} W {} holds {} direction(s) but the direction attribute needs {}", ctx.where(),
                    ir::type_to_string(ctx.input_type(1)), *w[0].value, a.num_directions);
  }
  if (shapes::dims_differ(w[2], x[2])) {
    throw_bad_input("{} W {} expects input size {} but X {} has {}", ctx.where(), ir::type_to_string(ctx.input_type(1)),
                    *w[2].value, ir::type_to_string(ctx.input_type(0)), *x[2].value);
  }
  ir::Dim h = a.hidden_size >= 0 ? ir::Dim::of(a.hidden_size) : r[2];
  if (!h.value && w[1].value) h = ir::Dim::of(*w[1].value / a.gates());
  if (w[1].value && h.value && *w[1].value != a.gates() * *h.value) {
    throw_bad_input("{} W {} must have {} rows ({} gate(s) of hidden_size {})", ctx.where(),
                    ir::type_to_string(ctx.input_type(1)), a.gates() * *h.value, a.gates(), *h.value);
  }
  const ir::Dim& s = x[a.layout == 0 ? 0 : 1];
  const ir::Dim& n = x[a.layout == 0 ? 1 : 0];
  int32_t elem = ctx.input_type(0).elem_type;
  if (elem == 0) elem = ctx.input_type(1).elem_type;
  const Dims y = a.layout == 0 ? Dims{s, d, n, h} : Dims{n, s, d, h};
  const Dims state = a.layout == 0 ? Dims{d, n, h} : Dims{n, d, h};
  std::vector<ir::TypeInfo> out;
  for (size_t i = 0; i < ctx.num_outputs(); ++i) out.push_back(shapes::tensor_type(elem, i == 0 ? y : state));
  return out;
}

}  // namespace

void register_recurrent_shapes(OpRegistry& r) {
  for (const char* op : {"LSTM", "GRU", "RNN"}) r.set_infer(op, recurrent_rule);
}

}  // namespace scalec::kernels
