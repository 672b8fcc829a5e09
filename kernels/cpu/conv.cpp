// Conv forward: per (image, group), im2col into a [C/group * kvol, out_plane] column matrix, then
// Y_g[M/group, out_plane] = W_g[M/group, C/group * kvol] * col on the GEMM core. A 1x1 kernel with
// stride 1 and no padding multiplies X directly.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_tasks.h"
#include "kernels/cpu/dispatch.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// col[(c, kd, kh, kw), (od, oh, ow)] = x[c, od*s - p + kd*d, ...], zero outside X.
template <typename T>
void im2col(const T* x, int64_t channels, const ConvGeometry& g, T* col) {
  const auto [D, H, W] = g.in;
  const auto [OD, OH, OW] = g.out;
  const int64_t out_plane = OD * OH * OW;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t off_d = kd * g.dilation[0] - g.pad_begin[0];
      const auto rd = conv_valid_range(OD, D, g.stride[0], off_d);
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t off_h = kh * g.dilation[1] - g.pad_begin[1];
        const auto rh = conv_valid_range(OH, H, g.stride[1], off_h);
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
          const auto rw = conv_valid_range(OW, W, g.stride[2], off_w);
          T* dst = col;
          col += out_plane;
          std::fill(dst, dst + rd[0] * OH * OW, T(0));
          for (int64_t od = rd[0]; od < rd[1]; ++od) {
            const int64_t id = od * g.stride[0] + off_d;
            T* dst_d = dst + od * OH * OW;
            std::fill(dst_d, dst_d + rh[0] * OW, T(0));
            for (int64_t oh = rh[0]; oh < rh[1]; ++oh) {
              const int64_t ih = oh * g.stride[1] + off_h;
              const T* src = x + ((c * D + id) * H + ih) * W;
              T* row = dst_d + oh * OW;
              std::fill(row, row + rw[0], T(0));
              for (int64_t ow = rw[0]; ow < rw[1]; ++ow) row[ow] = src[ow * g.stride[2] + off_w];
              std::fill(row + rw[1], row + OW, T(0));
            }
            std::fill(dst_d + rh[1] * OW, dst_d + OH * OW, T(0));
          }
          std::fill(dst + rd[1] * OH * OW, dst + out_plane, T(0));
        }
      }
    }
  }
}

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
    if (!direct) im2col(xg, cg, g, col);
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
