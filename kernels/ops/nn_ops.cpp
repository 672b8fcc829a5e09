// The compute-heavy linear ops, all on the GEMM core of kernels/cpu/gemm.h:
//   Gemm           opsets 1-6 (legacy `broadcast` attribute for C) and 7-22 (unidirectional
//                  broadcasting of C; C optional from 11; integer types from 11)
//   MatMul         opsets 1-22 (numpy.matmul: 1-D operands, broadcast batch dimensions)
//   Conv           opsets 1-22 (1-D to 3-D, groups, dilations, strides, pads, auto_pad, bias)
//   ConvTranspose  opsets 1-22 (the same plus output_padding and output_shape)
// float and double everywhere, plus int32/int64/uint32/uint64 for Gemm and MatMul; float16 and
// bfloat16 are refused with a clear error.
#include <string>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matmul.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Fills y[M, N] with C broadcast to [M, N] (C of rank <= 2, each dim 1 or the full size).
template <typename T>
void fill_broadcast_c(const OpContext& ctx, const Tensor& c, int64_t m, int64_t n, T* y) {
  std::vector<int64_t> cs = c.shape();
  if (cs.size() > 2) throw_bad_input("{} C {} must have rank <= 2", ctx.where(), ir::shape_to_string(cs));
  const bool legacy_exact = ctx.opset() < 7 && ctx.attr_int("broadcast", 0) == 0;
  while (cs.size() < 2) cs.insert(cs.begin(), 1);
  const bool ok = legacy_exact ? (cs[0] == m && cs[1] == n && c.rank() == 2)
                               : ((cs[0] == m || cs[0] == 1) && (cs[1] == n || cs[1] == 1));
  if (!ok) {
    throw_bad_input("{} C {} does not {} the output [{}, {}]{}", ctx.where(), ir::shape_to_string(c.shape()),
                    legacy_exact ? "match" : "broadcast to", m, n, legacy_exact ? " (broadcast=0)" : "");
  }
  const T* pc = c.values<T>().data();
  const int64_t row_step = cs[0] == 1 ? 0 : cs[1], col_step = cs[1] == 1 ? 0 : 1;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) y[i * n + j] = pc[i * row_step + j * col_step];
  }
}

std::vector<Tensor> gemm_forward(const OpContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (a.rank() != 2 || b.rank() != 2) {
    throw_bad_input("{} A {} and B {} must be matrices", ctx.where(), ir::shape_to_string(a.shape()),
                    ir::shape_to_string(b.shape()));
  }
  if (a.dtype() != b.dtype() || (c && c->dtype() != a.dtype())) {
    throw_bad_input("{} A, B and C must have one element type", ctx.where());
  }
  const bool trans_a = ctx.attr_int("transA", 0) != 0, trans_b = ctx.attr_int("transB", 0) != 0;
  const float alpha = ctx.attr_float("alpha", 1.0f), beta = ctx.attr_float("beta", 1.0f);
  const int64_t m = a.shape()[trans_a ? 1 : 0], k = a.shape()[trans_a ? 0 : 1];
  const int64_t kb = b.shape()[trans_b ? 1 : 0], n = b.shape()[trans_b ? 0 : 1];
  if (k != kb) {
    throw_bad_input("{} op(A) is [{}, {}] but op(B) is [{}, {}]", ctx.where(), m, k, kb, n);
  }
  return {dispatch_gemm(a.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    Tensor y(a.dtype(), {m, n});
    T* py = y.mutable_values<T>().data();
    const bool use_c = c != nullptr && beta != 0.0f;  // beta = 0 ignores C, as the reference does
    if (use_c) fill_broadcast_c<T>(ctx, *c, m, n, py);
    GemmArgs<T> g;
    g.trans_a = trans_a, g.trans_b = trans_b;
    g.m = m, g.n = n, g.k = k;
    g.alpha = static_cast<T>(alpha);
    g.a = a.values<T>().data(), g.lda = a.shape()[1];
    g.b = b.values<T>().data(), g.ldb = b.shape()[1];
    g.beta = use_c ? static_cast<T>(beta) : T(0);
    g.c = py, g.ldc = n;
    gemm_parallel(ctx.pool(), g);
    return y;
  })};
}

std::vector<Tensor> conv_forward(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const ConvGeometry g = conv_geometry(conv_attrs(ctx), x.shape(), w.shape(), ctx.where());
  return {conv_forward_cpu(ctx.pool(), x, w, bias, g, ctx.where())};
}

std::vector<Tensor> conv_transpose_forward(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const ConvGeometry g = conv_transpose_geometry(conv_attrs(ctx), x.shape(), w.shape(), ctx.where());
  return {conv_transpose_forward_cpu(ctx.pool(), x, w, bias, g, ctx.where())};
}

}  // namespace

ConvAttrs conv_attrs(const NodeAttrs& ctx) {
  ConvAttrs a;
  a.auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  a.group = ctx.attr_int("group", 1);
  a.kernel_shape = ctx.attr_ints("kernel_shape");
  a.strides = ctx.attr_ints("strides");
  a.dilations = ctx.attr_ints("dilations");
  a.pads = ctx.attr_ints("pads");
  a.output_padding = ctx.attr_ints("output_padding");
  a.output_shape = ctx.attr_ints("output_shape");
  return a;
}

void register_nn_ops(OpRegistry& r) {
  // Gemm 1-6 and 7+ differ only in how C broadcasts (fill_broadcast_c reads the opset).
  r.add("Gemm", 1, 6, gemm_forward);
  r.add("Gemm", 7, kLatestOpset, gemm_forward);
  r.add("MatMul", 1, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{matmul_forward_cpu(ctx.pool(), ctx.input(0), ctx.input(1), ctx.where())};
  });
  r.add("Conv", 1, kLatestOpset, conv_forward);
  r.add("ConvTranspose", 1, kLatestOpset, conv_transpose_forward);
}

}  // namespace scalec::kernels
