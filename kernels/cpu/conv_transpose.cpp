// ConvTranspose forward: per (image, group), col[M/group * kvol, in_plane] = W_g^T * X_g on the
// GEMM core (W_g is stored [C/group, M/group * kvol]), then col2im scatters each column entry to
// y[m, i*s - p + k*d] (adding), and the bias is added last.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_tasks.h"
#include "kernels/cpu/dispatch.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// y[m, id*s - p + kd*d, ...] += col[(m, kd, kh, kw), (id, ih, iw)] where the target lies inside Y.
template <typename T>
void col2im(const T* col, int64_t channels, const ConvGeometry& g, T* y) {
  const auto [D, H, W] = g.in;
  const auto [OD, OH, OW] = g.out;
  const int64_t in_plane = D * H * W;
  for (int64_t m = 0; m < channels; ++m) {
    T* ym = y + m * OD * OH * OW;
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t off_d = kd * g.dilation[0] - g.pad_begin[0];
      const auto rd = conv_valid_range(D, OD, g.stride[0], off_d);
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t off_h = kh * g.dilation[1] - g.pad_begin[1];
        const auto rh = conv_valid_range(H, OH, g.stride[1], off_h);
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
          const auto rw = conv_valid_range(W, OW, g.stride[2], off_w);
          const T* src = col;
          col += in_plane;
          for (int64_t id = rd[0]; id < rd[1]; ++id) {
            const int64_t od = id * g.stride[0] + off_d;
            for (int64_t ih = rh[0]; ih < rh[1]; ++ih) {
              const int64_t oh = ih * g.stride[1] + off_h;
              const T* s = src + (id * H + ih) * W;
              T* dst = ym + (od * OH + oh) * OW;
              for (int64_t iw = rw[0]; iw < rw[1]; ++iw) dst[iw * g.stride[2] + off_w] += s[iw];
            }
          }
        }
      }
    }
  }
}

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
    col2im(col, mg, g, yg);  // Y starts zeroed
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
