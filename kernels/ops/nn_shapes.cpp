// Shape and type rules of the nn family (see kernels/ops/shape_rules.h): Gemm, MatMul, Conv and
// ConvTranspose. Output sizes of the convolutions come from kernels/common/window_size.h, the
// formulas the CPU kernels use.
#include <optional>
#include <vector>

#include "ir/error.h"
#include "kernels/ops/nn_shape_rules.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using shapes::Dims;

// The element type the given inputs share (0 when none records one); error when two differ.
int32_t common_elem_type(const InferContext& ctx, std::initializer_list<size_t> inputs) {
  int32_t elem = 0;
  for (size_t i : inputs) {
    const int32_t t = ctx.has_input(i) ? ctx.input_type(i).elem_type : 0;
    if (t != 0 && elem != 0 && t != elem) {
      throw_bad_input("{} inputs have different element types: {} and {}", ctx.where(),
                      ir::dtype_name(static_cast<ir::DType>(elem)), ir::dtype_name(static_cast<ir::DType>(t)));
    }
    if (t != 0) elem = t;
  }
  return elem;
}

// Gemm's C against the output [m, n]: rank <= 2, and each dim 1 or the output's (opset 7+ and
// legacy broadcast=1), or exactly [m, n] (opsets 1-6 with broadcast=0). Checked only where the
// kernel reads C (beta != 0).
void check_gemm_c(const InferContext& ctx, const ir::Dim& m, const ir::Dim& n) {
  if (!ctx.has_input(2) || ctx.attr_float("beta", 1.0f) == 0.0f) return;
  const ir::TypeInfo& c = ctx.input_type(2);
  if (!c.shape) return;
  if (c.shape->size() > 2) throw_bad_input("{} C {} must have rank <= 2", ctx.where(), ir::type_to_string(c));
  const bool exact = ctx.opset() < 7 && ctx.attr_int("broadcast", 0) == 0;
  if (exact && c.shape->size() != 2) {
    throw_bad_input("{} C {} must be a matrix (broadcast=0)", ctx.where(), ir::type_to_string(c));
  }
  Dims cs = *c.shape;
  while (cs.size() < 2) cs.insert(cs.begin(), ir::Dim::of(1));
  const ir::Dim* out[2] = {&m, &n};
  for (size_t i = 0; i < 2; ++i) {
    const bool ok =
        exact ? !shapes::dims_differ(cs[i], *out[i]) : (cs[i].value == 1 || !shapes::dims_differ(cs[i], *out[i]));
    if (!ok) {
      throw_bad_input("{} C {} does not {} the output [{}, {}]", ctx.where(), ir::type_to_string(c),
                      exact ? "match" : "broadcast to", shapes::dim_string(m), shapes::dim_string(n));
    }
  }
}

std::vector<ir::TypeInfo> gemm_rule(const InferContext& ctx) {
  const ir::TypeInfo& a = ctx.input_type(0);
  const ir::TypeInfo& b = ctx.input_type(1);
  for (const ir::TypeInfo* t : {&a, &b}) {
    if (t->shape && t->shape->size() != 2) {
      throw_bad_input("{} A {} and B {} must be matrices", ctx.where(), ir::type_to_string(a), ir::type_to_string(b));
    }
  }
  const bool trans_a = ctx.attr_int("transA", 0) != 0, trans_b = ctx.attr_int("transB", 0) != 0;
  const Dims as = a.shape ? *a.shape : shapes::unknown_dims(2);
  const Dims bs = b.shape ? *b.shape : shapes::unknown_dims(2);
  const ir::Dim &m = as[trans_a ? 1 : 0], &k = as[trans_a ? 0 : 1];
  const ir::Dim &kb = bs[trans_b ? 1 : 0], &n = bs[trans_b ? 0 : 1];
  if (shapes::dims_differ(k, kb)) {
    throw_bad_input("{} op(A) has {} columns but op(B) has {} rows", ctx.where(), *k.value, *kb.value);
  }
  check_gemm_c(ctx, m, n);
  return {shapes::tensor_type(common_elem_type(ctx, {0, 1, 2}), Dims{m, n})};
}

std::vector<ir::TypeInfo> matmul_rule(const InferContext& ctx) {
  const ir::TypeInfo& a = ctx.input_type(0);
  const ir::TypeInfo& b = ctx.input_type(1);
  return {shapes::tensor_type(common_elem_type(ctx, {0, 1}), shapes::matmul_dims(ctx, a, b))};
}

// B, when given with a known shape, must be [M].
void check_bias(const InferContext& ctx, const ir::Dim& m) {
  if (!ctx.has_input(2) || !ctx.input_type(2).shape) return;
  const ir::TypeInfo& bias = ctx.input_type(2);
  if (bias.shape->size() != 1 || shapes::dims_differ((*bias.shape)[0], m)) {
    throw_bad_input("{} B {} must have shape [{}] (the output channels)", ctx.where(), ir::type_to_string(bias),
                    shapes::dim_string(m));
  }
}

std::vector<ir::TypeInfo> conv_rule(const InferContext& ctx) {
  std::optional<Dims> dims = shapes::conv_dims(ctx, ctx.input_type(0), ctx.input_type(1));
  if (dims) check_bias(ctx, (*dims)[1]);
  return {shapes::tensor_type(common_elem_type(ctx, {0, 1, 2}), std::move(dims))};
}

// ConvTranspose: X [N, C, in...], W [C, M/group, k...] -> Y [N, M, out...], out from
// output_shape, SAME (in * stride) or the full result less the pads.
std::vector<ir::TypeInfo> conv_transpose_rule(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  const ir::TypeInfo& w = ctx.input_type(1);
  const int32_t elem = common_elem_type(ctx, {0, 1, 2});
  const std::optional<size_t> rank = shapes::window_rank(ctx, x, &w);
  if (!rank) return {shapes::tensor_type(elem, std::nullopt)};
  const size_t r = *rank - 2;
  const Dims xs = x.shape ? *x.shape : shapes::unknown_dims(*rank);
  const Dims ws = w.shape ? *w.shape : shapes::unknown_dims(*rank);
  const int64_t group = ctx.attr_int("group", 1);
  if (group < 1) throw_bad_input("{} group must be >= 1, got {}", ctx.where(), group);
  if (shapes::dims_differ(xs[1], ws[0])) {
    throw_bad_input("{} X has {} channels but W {} expects {}", ctx.where(), *xs[1].value, ir::type_to_string(w),
                    *ws[0].value);
  }
  if (xs[1].value && *xs[1].value % group != 0) {
    throw_bad_input("{} X's {} channels do not divide into {} groups", ctx.where(), *xs[1].value, group);
  }
  const ir::Dim m =
      group == 1 ? ws[1] : shapes::dim_from(ws[1].value ? std::optional(*ws[1].value * group) : std::nullopt);
  check_bias(ctx, m);

  const std::vector<int64_t> ks = ctx.attr_ints("kernel_shape");
  if (!ks.empty() && ks.size() != r) {
    throw_bad_input("{} kernel_shape has {} values, expected {}", ctx.where(), ks.size(), r);
  }
  const shapes::WindowAttrs a = shapes::window_attrs(ctx, r);
  std::vector<int64_t> out_pad = ctx.attr_ints("output_padding");
  if (out_pad.empty()) out_pad.assign(r, 0);
  std::vector<int64_t> requested = ctx.attr_ints("output_shape");
  if (requested.size() == r + 2) requested.erase(requested.begin(), requested.begin() + 2);  // [N, M, ...] form
  for (const auto* v : {&out_pad, &requested}) {
    const char* name = v == &out_pad ? "output_padding" : "output_shape";
    if (!v->empty() && v->size() != r) {
      throw_bad_input("{} {} has {} values, expected {}", ctx.where(), name, v->size(), r);
    }
    for (int64_t e : *v) {
      if (e < 0) throw_bad_input("{} {} must be >= 0, got {}", ctx.where(), name, e);
    }
  }
  const bool same = a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower;
  Dims out{xs[0], m};
  for (size_t i = 0; i < r; ++i) {
    const ir::Dim& k = ws[2 + i];
    if (!ks.empty() && (ks[i] < 1 || shapes::dims_differ(k, ks[i]))) {
      throw_bad_input("{} kernel_shape {} does not match W {}", ctx.where(), ir::shape_to_string(ks),
                      ir::type_to_string(w));
    }
    const std::optional<int64_t> kernel = ks.empty() ? k.value : std::optional(ks[i]);
    if (!requested.empty()) {
      out.push_back(ir::Dim::of(requested[i]));
      continue;
    }
    if (!xs[2 + i].value) {
      out.push_back(same && a.strides[i] == 1 ? xs[2 + i] : shapes::unknown_dim());  // SAME: in * stride
      continue;
    }
    if (!kernel && !same) {
      out.push_back(shapes::unknown_dim());
      continue;
    }
    // SAME's in * stride does not depend on the kernel, so an unknown one may stand as 1.
    const WindowAxis wa = transposed_axis(*xs[2 + i].value, kernel.value_or(1), a.strides[i], a.dilations[i], a.pads[i],
                                          a.pads[r + i], out_pad[i], -1, a.auto_pad);
    if (!wa.fits) {
      throw_bad_input("{} pads {} and {} exceed the output extent {} along spatial axis {}", ctx.where(), wa.pad_begin,
                      wa.pad_end, wa.out + wa.pad_begin + wa.pad_end, i);
    }
    out.push_back(ir::Dim::of(wa.out));
  }
  return {shapes::tensor_type(elem, std::move(out))};
}

}  // namespace

void register_nn_shapes(OpRegistry& r) {
  r.set_infer("Gemm", gemm_rule);
  r.set_infer("MatMul", matmul_rule);
  r.set_infer("Conv", conv_rule);
  r.set_infer("ConvTranspose", conv_transpose_rule);
}

}  // namespace scalec::kernels
