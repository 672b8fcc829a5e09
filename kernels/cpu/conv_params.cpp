// Conv and ConvTranspose attribute resolution: shape checks, defaults, auto_pad, output sizes.
#include <algorithm>

#include "ir/error.h"
#include "kernels/common/window_size.h"
#include "kernels/cpu/conv.h"

namespace scalec::kernels {

namespace {

// A per-spatial-dim attribute: `fallback` when absent, else exactly `size` values >= `min`.
std::vector<int64_t> spatial_attr(const std::vector<int64_t>& v, size_t size, int64_t fallback, int64_t min,
                                  const char* name, const std::string& where) {
  if (v.empty()) return std::vector<int64_t>(size, fallback);
  if (v.size() != size) throw_bad_input("{} {} has {} values, expected {}", where, name, v.size(), size);
  for (int64_t e : v) {
    if (e < min) throw_bad_input("{} {} must be >= {}, got {}", where, name, min, e);
  }
  return v;
}

// The checks and defaults Conv and ConvTranspose share; fills rank, batch, in, kernel, stride,
// dilation. Returns the explicit pads (begin..., end...).
std::vector<int64_t> common_geometry(ConvGeometry& g, const ConvAttrs& a, const std::vector<int64_t>& xs,
                                     const std::vector<int64_t>& ws, const std::string& where) {
  if (xs.size() < 3) throw_bad_input("{} X must have rank >= 3 (N, C, spatial...), got {}", where, ir::shape_to_string(xs));
  if (ws.size() != xs.size()) {
    throw_bad_input("{} W {} must have the rank of X {}", where, ir::shape_to_string(ws), ir::shape_to_string(xs));
  }
  g.rank = xs.size() - 2;
  if (g.rank > kMaxConvSpatialRank) {
    throw_bad_input("{} {}-D convolution is not implemented (1-D to 3-D only)", where, g.rank);
  }
  if (a.group < 1) throw_bad_input("{} group must be >= 1, got {}", where, a.group);
  if (!auto_pad_of(a.auto_pad)) {
    throw_bad_input("{} unknown auto_pad '{}'", where, a.auto_pad);
  }
  if (!a.kernel_shape.empty() && !std::equal(a.kernel_shape.begin(), a.kernel_shape.end(), ws.begin() + 2, ws.end())) {
    throw_bad_input("{} kernel_shape {} does not match W {}", where, ir::shape_to_string(a.kernel_shape),
                    ir::shape_to_string(ws));
  }
  const std::vector<int64_t> strides = spatial_attr(a.strides, g.rank, 1, 1, "strides", where);
  const std::vector<int64_t> dilations = spatial_attr(a.dilations, g.rank, 1, 1, "dilations", where);
  const std::vector<int64_t> pads = spatial_attr(a.pads, 2 * g.rank, 0, 0, "pads", where);
  g.batch = xs[0];
  g.groups = a.group;
  const size_t lead = 3 - g.rank;
  for (size_t i = 0; i < g.rank; ++i) {
    g.in[lead + i] = xs[2 + i];
    g.kernel[lead + i] = ws[2 + i];
    g.stride[lead + i] = strides[i];
    g.dilation[lead + i] = dilations[i];
  }
  return pads;
}

}  // namespace

std::vector<int64_t> ConvGeometry::output_shape() const {
  std::vector<int64_t> s{batch, out_channels};
  for (size_t i = 3 - rank; i < 3; ++i) s.push_back(out[i]);
  return s;
}

ConvGeometry conv_geometry(const ConvAttrs& a, const std::vector<int64_t>& xs, const std::vector<int64_t>& ws,
                           const std::string& where) {
  ConvGeometry g;
  const std::vector<int64_t> pads = common_geometry(g, a, xs, ws, where);
  g.in_channels = xs[1];
  g.out_channels = ws[0];
  if (ws[1] * a.group != g.in_channels) {
    throw_bad_input("{} X has {} channels but W {} with group {} expects {}", where, g.in_channels,
                    ir::shape_to_string(ws), a.group, ws[1] * a.group);
  }
  if (g.out_channels % a.group != 0) {
    throw_bad_input("{} W's {} output channels do not divide into {} groups", where, g.out_channels, a.group);
  }
  const AutoPad mode = *auto_pad_of(a.auto_pad);  // common_geometry refused unknown text
  const size_t lead = 3 - g.rank;
  for (size_t i = 0; i < g.rank; ++i) {
    const size_t d = lead + i;
    const WindowAxis w = window_axis(g.in[d], g.kernel[d], g.stride[d], g.dilation[d], pads[i], pads[g.rank + i], mode);
    if (!w.fits) {
      throw_bad_input("{} the kernel (extent {} with dilation) is larger than the padded input ({}) along spatial axis {}",
                      where, (g.kernel[d] - 1) * g.dilation[d] + 1, g.in[d] + w.pad_begin + w.pad_end, i);
    }
    g.pad_begin[d] = w.pad_begin;
    g.out[d] = w.out;
  }
  return g;
}

ConvGeometry conv_transpose_geometry(const ConvAttrs& a, const std::vector<int64_t>& xs,
                                     const std::vector<int64_t>& ws, const std::string& where) {
  ConvGeometry g;
  const std::vector<int64_t> pads = common_geometry(g, a, xs, ws, where);
  g.in_channels = xs[1];
  if (ws[0] != g.in_channels) {
    throw_bad_input("{} X has {} channels but W {} expects {}", where, g.in_channels, ir::shape_to_string(ws), ws[0]);
  }
  if (g.in_channels % a.group != 0) {
    throw_bad_input("{} X's {} channels do not divide into {} groups", where, g.in_channels, a.group);
  }
  g.out_channels = ws[1] * a.group;
  const std::vector<int64_t> out_pad = spatial_attr(a.output_padding, g.rank, 0, 0, "output_padding", where);
  std::vector<int64_t> out_shape = a.output_shape;
  if (out_shape.size() == g.rank + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);  // [N, M, ...] form
  if (!out_shape.empty()) out_shape = spatial_attr(out_shape, g.rank, 0, 0, "output_shape", where);
  // A requested size beyond the full result keeps the spec's negative pads: Y then has zeros
  // around the full result. ONNX Runtime clamps them to 0 instead (and for SAME without
  // output_shape returns the full size), so the two differ only in that case.
  const AutoPad mode = *auto_pad_of(a.auto_pad);  // common_geometry refused unknown text
  const size_t lead = 3 - g.rank;
  for (size_t i = 0; i < g.rank; ++i) {
    const size_t d = lead + i;
    const int64_t requested = out_shape.empty() ? -1 : out_shape[i];  // spatial_attr made them >= 0
    const WindowAxis w = transposed_axis(g.in[d], g.kernel[d], g.stride[d], g.dilation[d], pads[i], pads[g.rank + i],
                                         out_pad[i], requested, mode);
    if (!w.fits) {
      throw_bad_input("{} pads {} and {} exceed the output extent {} along spatial axis {}", where, w.pad_begin,
                      w.pad_end, w.out + w.pad_begin + w.pad_end, i);
    }
    g.pad_begin[d] = w.pad_begin;
    g.out[d] = w.out;
  }
  return g;
}

void check_conv_operands(const ir::Tensor& x, const ir::Tensor& w, const ir::Tensor* bias, const ConvGeometry& g,
                         const std::string& where) {
  if (w.dtype() != x.dtype() || (bias && bias->dtype() != x.dtype())) {
    throw_bad_input("{} X, W and B must have one element type", where);
  }
  if (bias && (bias->rank() != 1 || bias->numel() != g.out_channels)) {
    throw_bad_input("{} B {} must have shape [{}]", where, ir::shape_to_string(bias->shape()), g.out_channels);
  }
}

}  // namespace scalec::kernels
