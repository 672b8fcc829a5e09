// Conv and ConvTranspose backward. Dimension letters: N images, C input channels, M output
// channels, G groups, cg = C/G, mg = M/G, kvol kernel taps, P = X's plane, Q = Y's plane.
//
// Conv, per (image, group), with col = im2col(X_g) [cg*kvol, Q] (the forward's columns):
//   dW_g[mg, cg*kvol] += dY_g[mg, Q] * col^T
//   dX_g               = col2im(W_g^T[cg*kvol, mg] * dY_g)       (col2im is im2col's adjoint)
//   dB[m]              = sum over images and Q of dY[n, m]
// ConvTranspose (Y_g = col2im(W_g^T X_g), W_g stored [cg, mg*kvol]), with dcol = im2col(dY_g) over
// the same window map [mg*kvol, P]:
//   dW_g[cg, mg*kvol] += X_g[cg, P] * dcol^T
//   dX_g               = W_g[cg, mg*kvol] * dcol
//   dB[m]              = sum over images and Q of dY[n, m]
// Work is split like the forward (conv_run_tasks) into (chunk of images, group) tasks; each task
// accumulates dW for its chunk in a private partial sum, and the partials are added in chunk order.
#include "kernels/cpu/conv_backward.h"

#include <algorithm>
#include <vector>

#include "ir/error.h"
#include "kernels/cpu/conv_im2col.h"
#include "kernels/cpu/conv_tasks.h"
#include "kernels/cpu/dispatch.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

constexpr std::array<int64_t, 3> kOnes{1, 1, 1};
constexpr std::array<int64_t, 3> kZeros{0, 0, 0};

// True when the window map is the identity (1x1 kernel, stride 1, no padding): the columns are
// the image itself.
bool is_direct(const ConvGeometry& g) {
  return conv_volume(g.kernel) == 1 && g.in == g.out && g.stride == kOnes && g.pad_begin == kZeros;
}

// Chunks of images that accumulate dW separately: one when the groups alone keep every thread
// busy (or there is nothing to split), else enough for the threads. Without dW, one image per
// chunk, as the forward.
int64_t image_chunks(const ThreadPool& pool, const ConvGeometry& g, bool dw) {
  if (!dw) return g.batch;
  const int64_t threads = pool.threads();
  if (g.groups >= threads || g.batch * g.groups < threads) return 1;
  return std::min(g.batch, (threads + g.groups - 1) / g.groups);
}

// Runs per_image(n, grp, scratch, dw_g, beta, parallel_gemm) for every image and group, where dw_g
// (null without dW) is the group's slice of the dW sum to accumulate into with `beta` (0 for the
// first image of a chunk). `image_macs` is one (image, group) call's work.
template <typename T, typename PerImage>
void run_backward(ThreadPool& pool, const ConvGeometry& g, T* dw, int64_t w_elems, int64_t image_macs,
                  int64_t scratch_elems, PerImage&& per_image) {
  const int64_t groups = g.groups, chunks = image_chunks(pool, g, dw != nullptr);
  const int64_t w_group = w_elems / groups;
  std::vector<T> partial(dw && chunks > 1 ? static_cast<size_t>(chunks * w_elems) : 0);
  auto run = [&](int64_t t, T* scratch, bool parallel_gemm) {
    const int64_t c = t / groups, grp = t % groups;
    T* dw_g = nullptr;
    if (dw) dw_g = (chunks > 1 ? partial.data() + c * w_elems : dw) + grp * w_group;
    const int64_t n0 = c * g.batch / chunks, n1 = (c + 1) * g.batch / chunks;
    for (int64_t n = n0; n < n1; ++n) per_image(n, grp, scratch, dw_g, n == n0 ? T(0) : T(1), parallel_gemm);
  };
  const int64_t images = (g.batch + chunks - 1) / chunks;
  conv_run_tasks<T>(pool, chunks * groups, images * image_macs, scratch_elems, run);
  if (dw && chunks > 1) {
    pool.parallel_for(w_elems, 4096, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        T s = partial[static_cast<size_t>(i)];
        for (int64_t c = 1; c < chunks; ++c) s += partial[static_cast<size_t>(c * w_elems + i)];
        dw[i] = s;
      }
    });
  }
}

// db[m] = sum over images and positions of dy[n, m, ...] (accumulated in double).
template <typename T>
void bias_backward(ThreadPool& pool, const T* dy, const ConvGeometry& g, T* db) {
  const int64_t q = conv_volume(g.out), m_count = g.out_channels;
  pool.parallel_for(m_count, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, q * g.batch)), [&](int64_t lo, int64_t hi) {
    for (int64_t m = lo; m < hi; ++m) {
      double s = 0;
      for (int64_t n = 0; n < g.batch; ++n) {
        const T* p = dy + (n * m_count + m) * q;
        T row = T(0);
        for (int64_t i = 0; i < q; ++i) row += p[i];
        s += static_cast<double>(row);
      }
      db[m] = static_cast<T>(s);
    }
  });
}

template <typename T>
void run_gemm(ThreadPool& pool, const GemmArgs<T>& args, bool parallel) {
  if (parallel) gemm_parallel(pool, args);
  else gemm(args);
}

template <typename T>
void conv_backward_run(ThreadPool& pool, const T* x, const T* w, const T* dy, T* dx, T* dw, const ConvGeometry& g) {
  const int64_t groups = g.groups, cg = g.in_channels / groups, mg = g.out_channels / groups;
  const int64_t p = conv_volume(g.in), q = conv_volume(g.out), rows = cg * conv_volume(g.kernel);
  const bool direct = is_direct(g);
  auto per_image = [&](int64_t n, int64_t grp, T* col, T* dw_g, T beta, bool par) {
    const T* x_g = x + (n * g.in_channels + grp * cg) * p;
    const T* dy_g = dy + (n * g.out_channels + grp * mg) * q;
    if (dw_g) {
      const T* cols = x_g;
      if (!direct) {
        im2col(x_g, cg, g, g.in, g.out, col);
        cols = col;
      }
      GemmArgs<T> a;  // dW_g[mg, rows] (+)= dY_g[mg, Q] * cols[rows, Q]^T
      a.trans_b = true;
      a.m = mg, a.n = rows, a.k = q;
      a.a = dy_g, a.lda = q, a.b = cols, a.ldb = q;
      a.beta = beta, a.c = dw_g, a.ldc = rows;
      run_gemm(pool, a, par);
    }
    if (dx) {
      T* dx_g = dx + (n * g.in_channels + grp * cg) * p;
      GemmArgs<T> a;  // dcol[rows, Q] = W_g[mg, rows]^T * dY_g[mg, Q]
      a.trans_a = true;
      a.m = rows, a.n = q, a.k = mg;
      a.a = w + grp * mg * rows, a.lda = rows, a.b = dy_g, a.ldb = q;
      a.c = direct ? dx_g : col, a.ldc = q;
      run_gemm(pool, a, par);
      if (!direct) col2im(col, cg, g, g.in, g.out, dx_g);  // dX starts zeroed
    }
  };
  const int64_t macs = mg * rows * q * ((dx ? 1 : 0) + (dw ? 1 : 0));
  run_backward<T>(pool, g, dw, g.out_channels * rows, macs, direct ? 0 : rows * q, per_image);
}

template <typename T>
void conv_transpose_backward_run(ThreadPool& pool, const T* x, const T* w, const T* dy, T* dx, T* dw,
                                 const ConvGeometry& g) {
  const int64_t groups = g.groups, cg = g.in_channels / groups, mg = g.out_channels / groups;
  const int64_t p = conv_volume(g.in), q = conv_volume(g.out), rows = mg * conv_volume(g.kernel);
  const bool direct = is_direct(g);
  auto per_image = [&](int64_t n, int64_t grp, T* col, T* dw_g, T beta, bool par) {
    const T* x_g = x + (n * g.in_channels + grp * cg) * p;
    const T* dy_g = dy + (n * g.out_channels + grp * mg) * q;
    const T* dcol = dy_g;
    if (!direct) {
      im2col(dy_g, mg, g, g.out, g.in, col);  // image = Y, window positions = X
      dcol = col;
    }
    if (dw_g) {
      GemmArgs<T> a;  // dW_g[cg, rows] (+)= X_g[cg, P] * dcol[rows, P]^T
      a.trans_b = true;
      a.m = cg, a.n = rows, a.k = p;
      a.a = x_g, a.lda = p, a.b = dcol, a.ldb = p;
      a.beta = beta, a.c = dw_g, a.ldc = rows;
      run_gemm(pool, a, par);
    }
    if (dx) {
      GemmArgs<T> a;  // dX_g[cg, P] = W_g[cg, rows] * dcol[rows, P]
      a.m = cg, a.n = p, a.k = rows;
      a.a = w + grp * cg * rows, a.lda = rows, a.b = dcol, a.ldb = p;
      a.c = dx + (n * g.in_channels + grp * cg) * p, a.ldc = p;
      run_gemm(pool, a, par);
    }
  };
  const int64_t macs = cg * rows * p * ((dx ? 1 : 0) + (dw ? 1 : 0));
  run_backward<T>(pool, g, dw, g.in_channels * rows, macs, direct ? 0 : rows * p, per_image);
}

// The part both ops share: checks, output tensors, dispatch. `run` is the op's templated kernel.
template <typename Run>
ConvGrads backward(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor& dy, const ConvGeometry& g,
                   const ConvGradWants& wants, const std::string& where, Run&& run) {
  check_conv_operands(x, w, nullptr, g, where);
  if (dy.dtype() != x.dtype() || dy.shape() != g.output_shape()) {
    throw_internal("{} dY is {} {}, expected {} {}", where, ir::dtype_name(dy.dtype()), ir::shape_to_string(dy.shape()),
                   ir::dtype_name(x.dtype()), ir::shape_to_string(g.output_shape()));
  }
  ConvGrads r;
  if (wants.dx) r.dx = Tensor(x.dtype(), x.shape());
  if (wants.dw) r.dw = Tensor(x.dtype(), w.shape());
  if (wants.db) r.db = Tensor(x.dtype(), {g.out_channels});
  if (dy.numel() == 0) return r;  // every gradient is 0
  dispatch_float(x.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = dy.values<T>().data();
    if (wants.db) bias_backward<T>(pool, pdy, g, r.db.mutable_values<T>().data());
    if (x.numel() == 0 || w.numel() == 0) return;  // X or W empty: dX, dW are empty or 0
    T* dx = wants.dx ? r.dx.mutable_values<T>().data() : nullptr;
    T* dw = wants.dw ? r.dw.mutable_values<T>().data() : nullptr;
    if (dx || dw) run(T{}, x.values<T>().data(), w.values<T>().data(), pdy, dx, dw);
  });
  return r;
}

}  // namespace

ConvGrads conv_backward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor& dy, const ConvGeometry& g,
                            const ConvGradWants& wants, const std::string& where) {
  return backward(pool, x, w, dy, g, wants, where, [&](auto tag, auto* px, auto* pw, auto* pdy, auto* dx, auto* dw) {
    conv_backward_run<decltype(tag)>(pool, px, pw, pdy, dx, dw, g);
  });
}

ConvGrads conv_transpose_backward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor& dy,
                                      const ConvGeometry& g, const ConvGradWants& wants, const std::string& where) {
  return backward(pool, x, w, dy, g, wants, where, [&](auto tag, auto* px, auto* pw, auto* pdy, auto* dx, auto* dw) {
    conv_transpose_backward_run<decltype(tag)>(pool, px, pw, pdy, dx, dw, g);
  });
}

}  // namespace scalec::kernels
