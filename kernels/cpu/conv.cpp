// Conv forward: per (image, group, column tile), im2col of the tile's output positions into a
// [C/group * kvol, width] panel, then Y_g[:, tile] = W_g[M/group, C/group * kvol] * panel on the
// GEMM core, then bias and activation on the block while it is in cache. A 1x1 kernel with stride
// 1 and no padding multiplies X's columns directly.
#include <algorithm>
#include <vector>

#include "ir/error.h"
#include "kernels/common/activation_math.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_im2col.h"
#include "kernels/cpu/conv_tasks.h"
#include "kernels/cpu/dispatch.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Applies the epilogue to y[0, n) with the comparisons of the Relu and Clip kernels, so the fused
// result is bitwise the unfused one.
template <typename T>
void apply_epilogue(T* y, int64_t n, const ConvEpilogue& e) {
  if (e.kind == ConvEpilogue::Kind::kRelu) {
    for (int64_t i = 0; i < n; ++i) y[i] = relu(y[i]);
  } else if (e.kind == ConvEpilogue::Kind::kClip) {
    const bool use_lo = e.lo.has_value(), use_hi = e.hi.has_value();
    const T lo = use_lo ? static_cast<T>(*e.lo) : T(0), hi = use_hi ? static_cast<T>(*e.hi) : T(0);
    for (int64_t i = 0; i < n; ++i) {
      T v = y[i];
      if (use_lo && v < lo) v = lo;
      if (use_hi && v > hi) v = hi;
      y[i] = v;
    }
  }
}

// even[k] = src[2k], odd[k] = src[2k + 1] for k < n: a loop the compiler vectorizes with shuffles.
template <typename T>
void deinterleave2(const T* src, int64_t n, T* even, T* odd) {
  for (int64_t k = 0; k < n; ++k) {
    even[k] = src[2 * k];
    odd[k] = src[2 * k + 1];
  }
}

// Depthwise 2-D Conv (groups == C == M), per channel plane. The plane is copied once into zeroed
// scratch, split by stride phase in both axes: padded element (r, c) goes to sub-plane
// (r % sh, c % sw) at row r / sh, column c / sw. Every tap (a, b) then reads one sub-plane at a
// fixed offset, so each tap is a single flat multiply-add over an [oh, cols] accumulator (columns
// past ow are computed and dropped): long vector loops with no bounds checks, also on 7x7 planes.
// MobileNetV2's depthwise layers ran at 1.2-3 GMAC/s with a short loop per (row, tap).
template <typename T>
void depthwise_run(ThreadPool& pool, const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g,
                   const ConvEpilogue& epilogue) {
  const int64_t ih = g.in[1], iw = g.in[2], oh = g.out[1], ow = g.out[2], kh = g.kernel[1], kw = g.kernel[2];
  const int64_t sh = g.stride[1], sw = g.stride[2], dh = g.dilation[1], dw = g.dilation[2];
  const int64_t ph = g.pad_begin[1], pw = g.pad_begin[2];
  const int64_t row_shift = (kh - 1) * dh / sh, col_shift = (kw - 1) * dw / sw;  // the largest tap offsets
  const int64_t sub_rows = std::max((ph + ih + sh - 1) / sh, oh + row_shift);
  const int64_t sub_cols = std::max((pw + iw + sw - 1) / sw, ow + col_shift);
  const int64_t sub_size = sub_rows * sub_cols + col_shift;  // slack: the last row's dropped columns
  const int64_t acc_size = oh * sub_cols;
  pool.parallel_for(g.batch * g.in_channels, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> sub(static_cast<size_t>(sh * sw * sub_size)), acc(static_cast<size_t>(acc_size));
    std::vector<T> line(static_cast<size_t>(sub_cols * sw), T(0));  // one zero-padded input row
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t c = t % g.in_channels;
      const T* xp = x + t * ih * iw;
      const T* wp = w + c * kh * kw;
      T* yp = y + t * oh * ow;
      std::fill(sub.begin(), sub.end(), T(0));
      for (int64_t r = 0; r < ih; ++r) {
        const int64_t pr = r + ph;
        T* row = sub.data() + (pr % sh) * sw * sub_size + (pr / sh) * sub_cols;  // phase 0 of padded row pr
        if (sw == 1) {
          std::copy_n(xp + r * iw, iw, row + pw);
          continue;
        }
        std::copy_n(xp + r * iw, iw, line.data() + pw);  // the padded row, then split by phase
        if (sw == 2) {
          deinterleave2(line.data(), sub_cols, row, row + sub_size);
        } else {
          for (int64_t k = 0; k < sub_cols; ++k) {
            for (int64_t p = 0; p < sw; ++p) row[p * sub_size + k] = line[static_cast<size_t>(k * sw + p)];
          }
        }
      }
      const T* taps[9];
      auto tap_source = [&](int64_t a, int64_t b) {
        const int64_t r = a * dh, col = b * dw;
        return sub.data() + ((r % sh) * sw + col % sw) * sub_size + (r / sh) * sub_cols + col / sw;
      };
      T* ap = acc.data();
      if (kh == 3 && kw == 3) {  // all nine taps per element in registers: one store instead of nine
        for (int64_t k = 0; k < 9; ++k) taps[k] = tap_source(k / 3, k % 3);
        const T w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3], w4 = wp[4], w5 = wp[5], w6 = wp[6], w7 = wp[7],
                w8 = wp[8];
        for (int64_t i = 0; i < acc_size; ++i) {
          ap[i] = w0 * taps[0][i] + w1 * taps[1][i] + w2 * taps[2][i] + w3 * taps[3][i] + w4 * taps[4][i] +
                  w5 * taps[5][i] + w6 * taps[6][i] + w7 * taps[7][i] + w8 * taps[8][i];
        }
      } else {
        std::fill(acc.begin(), acc.end(), T(0));
        for (int64_t a = 0; a < kh; ++a) {
          for (int64_t b = 0; b < kw; ++b) {
            const T* src = tap_source(a, b);
            const T wv = wp[a * kw + b];
            for (int64_t i = 0; i < acc_size; ++i) ap[i] += wv * src[i];
          }
        }
      }
      const T b0 = bias ? bias[c] : T(0);
      for (int64_t o = 0; o < oh; ++o) {
        const T* ar = acc.data() + o * sub_cols;
        T* yr = yp + o * ow;
        for (int64_t q = 0; q < ow; ++q) yr[q] = ar[q] + b0;
      }
      apply_epilogue(yp, oh * ow, epilogue);
    }
  });
}

// The column tiles of one (image, group) product: an im2col panel [rows, width] plus the output
// block [mg, width] fit in about 512 KB of L2 (1 MB per core here), so the GEMM reads a panel that
// was just written and the epilogue adds bias and activation while the block is hot. At least 256
// columns, since each tile repacks the weights; with few tasks, a multiple of the threads.
// Measured on a shared machine, so only roughly: ResNet-18 batch 8, 1 thread, 16.2-16.6 samples/s
// with one tile per image against 16.7-17.3 with 512 KB tiles (768 KB and 1 MB: no better).
struct ColumnTiles {
  int64_t count = 1, width = 0;
};

template <typename T>
ColumnTiles column_tiles(int64_t rows, int64_t mg, int64_t out_plane, int64_t products, int threads) {
  constexpr int64_t kTileBytes = int64_t{512} << 10, kMinWidth = 256;
  ColumnTiles t;
  const int64_t fit = std::max<int64_t>(kMinWidth, kTileBytes / (static_cast<int64_t>(sizeof(T)) * (rows + mg)) / 16 * 16);
  t.count = (out_plane + fit - 1) / fit;
  if (t.count > 1 && products * t.count < 4 * threads) {  // few tasks: a multiple of the threads
    t.count = ((products * t.count + threads - 1) / threads * threads + products - 1) / products;
  }
  t.width = ((out_plane + t.count - 1) / t.count + 15) / 16 * 16;
  t.count = (out_plane + t.width - 1) / t.width;
  return t;
}

// y[m, 0..n) = epilogue(y[m, 0..n) + bias[m]) for the rows of one output block (row stride ld).
template <typename T>
void finish_block(T* y, int64_t rows, int64_t n, int64_t ld, const T* bias, const ConvEpilogue& e) {
  for (int64_t m = 0; m < rows; ++m) {
    T* row = y + m * ld;
    if (bias) {
      const T b = bias[m];
      for (int64_t i = 0; i < n; ++i) row[i] += b;
    }
    apply_epilogue(row, n, e);
  }
}

template <typename T>
void conv_run(ThreadPool& pool, const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g,
              const ConvEpilogue& epilogue) {
  if (g.groups == g.in_channels && g.groups == g.out_channels && g.in[0] == 1 && g.out[0] == 1 && g.kernel[0] == 1) {
    // Direct taps beat im2col + a 1-row GEMM per channel: MobileNetV2 Conv 47 -> 38 ms/batch (--profile, 2 threads).
    return depthwise_run(pool, x, w, bias, y, g, epilogue);
  }
  const int64_t groups = g.groups, cg = g.in_channels / groups, mg = g.out_channels / groups;
  const int64_t in_plane = conv_volume(g.in), out_plane = conv_volume(g.out), kvol = conv_volume(g.kernel);
  const int64_t rows = cg * kvol;  // the GEMM's K
  const bool direct = kvol == 1 && g.in == g.out && g.stride == std::array<int64_t, 3>{1, 1, 1} &&
                      g.pad_begin == std::array<int64_t, 3>{0, 0, 0};
  const ColumnTiles tiles = column_tiles<T>(rows, mg, out_plane, g.batch * groups, pool.threads());
  auto run = [&](int64_t t, T* col, bool parallel_gemm) {
    const int64_t tile = t % tiles.count, product = t / tiles.count;
    const int64_t n = product / groups, grp = product % groups;
    const int64_t j0 = tile * tiles.width, j1 = std::min(out_plane, j0 + tiles.width);
    const T* xg = x + (n * g.in_channels + grp * cg) * in_plane;
    T* yg = y + (n * g.out_channels + grp * mg) * out_plane + j0;
    if (!direct) im2col_tile(xg, cg, g, g.in, g.out, j0, j1, col);
    GemmArgs<T> args;
    args.m = mg, args.n = j1 - j0, args.k = rows;
    args.a = w + grp * mg * rows, args.lda = rows;
    args.b = direct ? xg + j0 : col, args.ldb = direct ? in_plane : j1 - j0;
    args.beta = T(0);
    args.c = yg, args.ldc = out_plane;
    if (parallel_gemm) gemm_parallel(pool, args);
    else gemm(args);
    finish_block(yg, mg, j1 - j0, out_plane, bias ? bias + grp * mg : nullptr, epilogue);
  };
  conv_run_tasks<T>(pool, g.batch * groups * tiles.count, mg * rows * tiles.width, direct ? 0 : rows * tiles.width,
                    run);
}

}  // namespace

Tensor conv_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* bias, const ConvGeometry& g,
                        const std::string& where, const ConvEpilogue& epilogue) {
  check_conv_operands(x, w, bias, g, where);
  return dispatch_float(x.dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    Tensor y = Tensor::uninitialized(x.dtype(), g.output_shape());  // every element is written
    if (y.numel() == 0) return y;
    conv_run<T>(pool, x.values<T>().data(), w.values<T>().data(), bias ? bias->values<T>().data() : nullptr,
                y.mutable_values<T>().data(), g, epilogue);
    return y;
  });
}

}  // namespace scalec::kernels
