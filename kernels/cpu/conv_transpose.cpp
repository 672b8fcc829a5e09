// ConvTranspose forward: per (image, group), col[M/group * kvol, in_plane] = W_g^T * X_g on the
// GEMM core (W_g is stored [C/group, M/group * kvol]), then col2im scatters each column entry to
// y[m, i*s - p + k*d] (adding), and the bias is added last.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_im2col.h"
#include "kernels/cpu/conv_tasks.h"
#include "kernels/cpu/dispatch.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

template <typename T>
void conv_transpose_run(ThreadPool& pool, const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g) {
  const int64_t groups = g.groups, cg = g.in_channels / groups, mg = g.out_channels / groups;
  const int64_t in_plane = conv_volume(g.in), out_plane = conv_volume(g.out), kvol = conv_volume(g.kernel);
  const int64_t rows = mg * kvol;  // the GEMM's M
  auto run = [&](int64_t t, T* col, bool parallel_gemm) {
    const int64_t n = t / groups, grp = t % groups;
    T* yg = y + (n * g.out_channels + grp * mg) * out_plane;
    GemmArgs<T> args;
    args.trans_a = true;
    args.m = rows, args.n = in_plane, args.k = cg;
    args.a = w + grp * cg * rows, args.lda = rows;
    args.b = x + (n * g.in_channels + grp * cg) * in_plane, args.ldb = in_plane;
    args.c = col, args.ldc = in_plane;
    if (parallel_gemm) gemm_parallel(pool, args);
    else gemm(args);
    col2im(col, mg, g, g.out, g.in, yg);  // Y starts zeroed; image = Y, window positions = X
    if (bias) {
      for (int64_t m = 0; m < mg; ++m) {
        const T b = bias[grp * mg + m];
        for (T* p = yg + m * out_plane; p != yg + (m + 1) * out_plane; ++p) *p += b;
      }
    }
  };
  conv_run_tasks<T>(pool, g.batch * groups, rows * in_plane * cg, rows * in_plane, run);
}

}  // namespace

Tensor conv_transpose_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* bias,
                                  const ConvGeometry& g, const std::string& where) {
  check_conv_operands(x, w, bias, g, where);
  return dispatch_float(x.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    Tensor y(x.dtype(), g.output_shape());
    if (y.numel() == 0) return y;
    conv_transpose_run<T>(pool, x.values<T>().data(), w.values<T>().data(), bias ? bias->values<T>().data() : nullptr,
                          y.mutable_values<T>().data(), g);
    return y;
  });
}

}  // namespace scalec::kernels
