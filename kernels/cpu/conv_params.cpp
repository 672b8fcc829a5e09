// Conv and ConvTranspose attribute resolution: shape checks, defaults, auto_pad, output sizes.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/conv.h"

namespace scalec::kernels {

namespace {

// Floor division: ONNX writes the ConvTranspose pad formulas with Python's //.
int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

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
  if (a.auto_pad != "NOTSET" && a.auto_pad != "VALID" && a.auto_pad != "SAME_UPPER" && a.auto_pad != "SAME_LOWER" &&
      !a.auto_pad.empty()) {
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
  const size_t lead = 3 - g.rank;
  for (size_t i = 0; i < g.rank; ++i) {
    const size_t d = lead + i;
    const int64_t in = g.in[d], s = g.stride[d], eff = (g.kernel[d] - 1) * g.dilation[d] + 1;
    if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
      g.out[d] = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (g.out[d] - 1) * s + eff - in);
      g.pad_begin[d] = a.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      continue;
    }
    const int64_t pb = a.auto_pad == "VALID" ? 0 : pads[i], pe = a.auto_pad == "VALID" ? 0 : pads[g.rank + i];
    if (in + pb + pe < eff) {
      throw_bad_input("{} the kernel (extent {} with dilation) is larger than the padded input ({}) along spatial axis {}",
                      where, eff, in + pb + pe, i);
    }
    g.pad_begin[d] = pb;
    g.out[d] = (in + pb + pe - eff) / s + 1;
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
  const bool same = a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER";
  const size_t lead = 3 - g.rank;
  for (size_t i = 0; i < g.rank; ++i) {
    const size_t d = lead + i;
    const int64_t in = g.in[d], s = g.stride[d], eff = (g.kernel[d] - 1) * g.dilation[d] + 1;
    const int64_t full = s * (in - 1) + out_pad[i] + eff;  // the unpadded result's extent
    if (!out_shape.empty() || same) {
      // The spec's pads for a requested size: SAME_UPPER puts the odd element at the end, every
      // other mode at the start. A negative total (a size beyond the full result) is kept, as
      // the spec and its reference do: Y then has zeros around the full result. ONNX Runtime
      // clamps it to 0 instead (and for SAME without output_shape returns the full size), so the
      // two differ only when the requested size exceeds the full result.
      g.out[d] = !out_shape.empty() ? out_shape[i] : in * s;
      const int64_t total = full - g.out[d];
      g.pad_begin[d] = a.auto_pad == "SAME_UPPER" ? floor_div(total, 2) : total - floor_div(total, 2);
      continue;
    }
    const int64_t pb = a.auto_pad == "VALID" ? 0 : pads[i], pe = a.auto_pad == "VALID" ? 0 : pads[g.rank + i];
    g.pad_begin[d] = pb;
    g.out[d] = full - pb - pe;
    if (g.out[d] < 0) {
      throw_bad_input("{} pads {} and {} exceed the output extent {} along spatial axis {}", where, pb, pe, full, i);
    }
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
