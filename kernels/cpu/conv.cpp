// Conv forward: per (image, group), im2col into a [C/group * kvol, out_plane] column matrix, then
// Y_g[M/group, out_plane] = W_g[M/group, C/group * kvol] * col on the GEMM core. A 1x1 kernel with
// stride 1 and no padding multiplies X directly.
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
void conv_run(ThreadPool& pool, const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g) {
  const int64_t groups = g.groups, cg = g.in_channels / groups, mg = g.out_channels / groups;
  const int64_t in_plane = conv_volume(g.in), out_plane = conv_volume(g.out), kvol = conv_volume(g.kernel);
  const int64_t rows = cg * kvol;  // the GEMM's K
  const bool direct = kvol == 1 && g.in == g.out && g.stride == std::array<int64_t, 3>{1, 1, 1} &&
                      g.pad_begin == std::array<int64_t, 3>{0, 0, 0};
  auto run = [&](int64_t t, T* col, bool parallel_gemm) {
    const int64_t n = t / groups, grp = t % groups;
    const T* xg = x + (n * g.in_channels + grp * cg) * in_plane;
    T* yg = y + (n * g.out_channels + grp * mg) * out_plane;
    if (!direct) im2col(xg, cg, g, g.in, g.out, col);
    if (bias) {
      for (int64_t m = 0; m < mg; ++m) std::fill_n(yg + m * out_plane, out_plane, bias[grp * mg + m]);
    }
    GemmArgs<T> args;
    args.m = mg, args.n = out_plane, args.k = rows;
    args.a = w + grp * mg * rows, args.lda = rows;
    args.b = direct ? xg : col, args.ldb = out_plane;
    args.beta = bias ? T(1) : T(0);
    args.c = yg, args.ldc = out_plane;
    if (parallel_gemm) gemm_parallel(pool, args);
    else gemm(args);
  };
  conv_run_tasks<T>(pool, g.batch * groups, mg * rows * out_plane, direct ? 0 : rows * out_plane, run);
}

}  // namespace

Tensor conv_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* bias, const ConvGeometry& g,
                        const std::string& where) {
  check_conv_operands(x, w, bias, g, where);
  return dispatch_float(x.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    Tensor y(x.dtype(), g.output_shape());
    if (y.numel() == 0) return y;
    conv_run<T>(pool, x.values<T>().data(), w.values<T>().data(), bias ? bias->values<T>().data() : nullptr,
                y.mutable_values<T>().data(), g);
    return y;
  });
}

}  // namespace scalec::kernels
