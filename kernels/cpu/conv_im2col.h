#pragma once
// The two data movements every convolution GEMM needs, shared by Conv and ConvTranspose forward
// and backward. A window map pairs an `image` (the tensor the kernel slides over) with a `grid` of
// window positions: image index = pos * stride - pad + k * dilation, per spatial axis.
//   Conv forward / ConvTranspose backward: im2col gathers image -> columns (grid = Conv's out).
//   ConvTranspose forward / Conv backward: col2im scatters columns -> image (adding).
// For Conv the image is g.in and the grid g.out; for ConvTranspose the image is g.out, the grid g.in.
#include <algorithm>
#include <array>
#include <cstdint>

#include "kernels/cpu/conv.h"

namespace scalec::kernels {

/// Columns [j0, j1) of im2col's matrix (j the flattened output position), written to `col` with
/// row stride j1 - j0: a panel of one column tile that stays in cache for the GEMM that reads it.
template <typename T>
void im2col_tile(const T* img, int64_t channels, const ConvGeometry& g, const std::array<int64_t, 3>& image,
                 const std::array<int64_t, 3>& grid, int64_t j0, int64_t j1, T* col) {
  const auto [D, H, W] = image;
  const auto [OD, OH, OW] = grid;
  const int64_t width = j1 - j0;
  for (int64_t c = 0; c < channels; ++c) {
    const T* src_c = img + c * D * H * W;
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t off_d = kd * g.dilation[0] - g.pad_begin[0];
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t off_h = kh * g.dilation[1] - g.pad_begin[1];
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
          const auto rw = conv_valid_range(OW, W, g.stride[2], off_w);
          T* dst = col;
          col += width;
          // Walk the tile one output row (fixed od, oh) at a time.
          for (int64_t j = j0; j < j1;) {
            const int64_t ow0 = j % OW, oh = (j / OW) % OH, od = j / (OW * OH);
            const int64_t ow1 = std::min(OW, ow0 + (j1 - j));
            T* out = dst + (j - j0);  // out[ow - ow0] is output position (od, oh, ow)
            const int64_t id = od * g.stride[0] + off_d, ih = oh * g.stride[1] + off_h;
            if (id < 0 || id >= D || ih < 0 || ih >= H) {
              std::fill(out, out + (ow1 - ow0), T(0));
            } else {
              const int64_t base = (id * H + ih) * W + off_w;  // + ow * stride: the input element
              const int64_t lo = std::clamp(rw[0], ow0, ow1), hi = std::clamp(rw[1], lo, ow1);
              std::fill(out, out + (lo - ow0), T(0));
              if (g.stride[2] == 1) {
                std::copy(src_c + base + lo, src_c + base + hi, out + (lo - ow0));
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) out[ow - ow0] = src_c[base + ow * g.stride[2]];
              }
              std::fill(out + (hi - ow0), out + (ow1 - ow0), T(0));
            }
            j += ow1 - ow0;
          }
        }
      }
    }
  }
}

/// col[(c, kd, kh, kw), (pd, ph, pw)] = img[c, pd*s - p + kd*d, ...], zero outside the image.
/// `col` has channels * kvol rows of conv_volume(grid) entries: the tile of every column.
template <typename T>
void im2col(const T* img, int64_t channels, const ConvGeometry& g, const std::array<int64_t, 3>& image,
            const std::array<int64_t, 3>& grid, T* col) {
  im2col_tile(img, channels, g, image, grid, 0, conv_volume(grid), col);
}

/// img[c, pd*s - p + kd*d, ...] += col[(c, kd, kh, kw), (pd, ph, pw)] where the target lies inside
/// the image (the adjoint of im2col).
template <typename T>
void col2im(const T* col, int64_t channels, const ConvGeometry& g, const std::array<int64_t, 3>& image,
            const std::array<int64_t, 3>& grid, T* img) {
  const auto [D, H, W] = image;
  const auto [PD, PH, PW] = grid;
  const int64_t plane = PD * PH * PW;
  for (int64_t c = 0; c < channels; ++c) {
    T* dst_c = img + c * D * H * W;
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t off_d = kd * g.dilation[0] - g.pad_begin[0];
      const auto rd = conv_valid_range(PD, D, g.stride[0], off_d);
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t off_h = kh * g.dilation[1] - g.pad_begin[1];
        const auto rh = conv_valid_range(PH, H, g.stride[1], off_h);
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t off_w = kw * g.dilation[2] - g.pad_begin[2];
          const auto rw = conv_valid_range(PW, W, g.stride[2], off_w);
          const T* src = col;
          col += plane;
          for (int64_t pd = rd[0]; pd < rd[1]; ++pd) {
            const int64_t id = pd * g.stride[0] + off_d;
            for (int64_t ph = rh[0]; ph < rh[1]; ++ph) {
              const T* s = src + (pd * PH + ph) * PW;
              T* dst = dst_c + (id * H + ph * g.stride[1] + off_h) * W;
              if (g.stride[2] == 1) {
                for (int64_t pw = rw[0]; pw < rw[1]; ++pw) dst[pw + off_w] += s[pw];
              } else {
                for (int64_t pw = rw[0]; pw < rw[1]; ++pw) dst[pw * g.stride[2] + off_w] += s[pw];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace scalec::kernels
