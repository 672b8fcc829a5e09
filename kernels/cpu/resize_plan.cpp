// Resize planning: the output shape from scales or sizes (axes, keep_aspect_ratio_policy), and the
// taps of each axis (coordinate transform, then nearest, linear, cubic or antialiased weights).
// The arithmetic follows the ONNX reference (onnx/reference/ops/op_resize.py) step for step, in
// double, so that ties in nearest rounding fall the same way as in the conformance data; where the
// reference departs from the spec and ONNX Runtime (see original_coordinate), scalec follows those.
#include <algorithm>
#include <cmath>

#include "ir/error.h"
#include "kernels/cpu/resize.h"

namespace scalec::kernels {

namespace {

// Where output coordinate o samples the input, in input coordinates.
double original_coordinate(int64_t o, int64_t in, int64_t out, double scale, double roi_start, double roi_end,
                           ResizeCoord coord) {
  const double x = static_cast<double>(o);
  const double in_width = static_cast<double>(in);
  // align_corners and tf_crop_and_resize divide by the integer output length, as the spec, ONNX
  // Runtime and PyTorch do. The ONNX reference uses the fractional scale * in instead, which
  // differs when scales are given (4 * 0.6 = 2.4): see tests/conformance/reasons/pool.txt.
  const double out_len = static_cast<double>(out);
  switch (coord) {
    case ResizeCoord::kHalfPixel:
      return (x + 0.5) / scale - 0.5;
    case ResizeCoord::kHalfPixelSymmetric: {
      const double adjustment = out_len / (scale * in_width);  // output_width_int / output_width
      const double offset = in_width / 2 * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case ResizeCoord::kPytorchHalfPixel:
      return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case ResizeCoord::kAlignCorners:
      return out == 1 ? 0.0 : x * (in_width - 1) / (out_len - 1);
    case ResizeCoord::kAsymmetric:
      return x / scale;
    case ResizeCoord::kTfHalfPixelForNn:
      return (x + 0.5) / scale;
    case ResizeCoord::kTfCropAndResize: {
      const double v = out == 1 ? (roi_end - roi_start) * (in_width - 1) / 2
                               : x * (roi_end - roi_start) * (in_width - 1) / (out_len - 1);
      return v + roi_start * (in_width - 1);
    }
  }
  return 0.0;
}

int64_t nearest_index(double x, double scale, ResizeNearest mode) {
  const double f = std::floor(x);
  switch (mode) {
    case ResizeNearest::kRoundPreferFloor:
      return static_cast<int64_t>(x == f || x - f <= 0.5 ? f : f + 1);
    case ResizeNearest::kRoundPreferCeil:
      return static_cast<int64_t>(x == f || x - f < 0.5 ? f : f + 1);
    case ResizeNearest::kFloor:
      return static_cast<int64_t>(f);
    case ResizeNearest::kCeil:
      return static_cast<int64_t>(std::ceil(x));
    case ResizeNearest::kSimple:
      return static_cast<int64_t>(scale < 1 ? std::ceil(x) : f);
  }
  return 0;
}

double cubic_kernel(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

// Weights of the taps base + start, base + start + 1, ... for the fractional position `ratio` in
// (0, 1] past `base`; returns start.
int64_t interpolation_weights(double ratio, double scale, const ResizeOptions& opt, std::vector<double>& w) {
  w.clear();
  const double a = opt.cubic_a;
  if (!opt.antialias) {
    if (opt.mode == ResizeMode::kLinear) {
      w = {1 - ratio, ratio};
      return 0;
    }
    const double r1 = ratio + 1, q = 1 - ratio, q1 = q + 1;
    w = {((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a, ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
         ((a + 2) * q - (a + 3)) * q * q + 1, ((a * q1 - 5 * a) * q1 + 8 * a) * q1 - 4 * a};
    return -1;
  }
  // Antialias: the filter is stretched by 1/scale when downsampling, then normalized.
  const double s = std::min(scale, 1.0);
  const double support = opt.mode == ResizeMode::kLinear ? 1.0 : 2.0;
  const int64_t start = static_cast<int64_t>(std::floor(-support / s)) + 1;
  const int64_t n = 2 - 2 * start;
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double arg = (static_cast<double>(start + j) - ratio) * s;
    const double c = opt.mode == ResizeMode::kLinear ? std::clamp(1 - std::fabs(arg), 0.0, 1.0) : cubic_kernel(arg, a);
    w.push_back(c);
    sum += c;
  }
  for (double& c : w) c /= sum;
  return start;
}

}  // namespace

bool ResizeAxisPlan::identity() const {
  if (in != out || any_outside) return false;
  for (int64_t o = 0; o < out; ++o) {
    if (first[o + 1] - first[o] != 1 || index[first[o]] != o || weight[first[o]] != 1.0) return false;
  }
  return true;
}

ResizeAxisPlan resize_axis_plan(int64_t in, int64_t out, double scale, double roi_start, double roi_end,
                                const ResizeOptions& opt) {
  ResizeAxisPlan p;
  p.in = in;
  p.out = out;
  p.first.assign(1, 0);
  p.outside.assign(out, 0);
  std::vector<double> w;
  // ONNX Runtime copies an axis that is not resized; without this tf_half_pixel_for_nn would shift
  // every such axis (N and C included) by half an element.
  const bool copy = opt.coord == ResizeCoord::kTfHalfPixelForNn && in == out && scale == 1.0;
  for (int64_t o = 0; o < out; ++o) {
    if (copy) {
      p.index.push_back(o);
      p.weight.push_back(1.0);
      p.first.push_back(static_cast<int64_t>(p.index.size()));
      continue;
    }
    const double x = original_coordinate(o, in, out, scale, roi_start, roi_end, opt.coord);
    if (opt.coord == ResizeCoord::kTfCropAndResize && (x < 0 || x > static_cast<double>(in - 1))) {
      p.outside[o] = 1;
      p.any_outside = true;
      p.first.push_back(static_cast<int64_t>(p.index.size()));
      continue;
    }
    if (opt.mode == ResizeMode::kNearest) {
      p.index.push_back(std::clamp<int64_t>(nearest_index(x, scale, opt.nearest), 0, in - 1));
      p.weight.push_back(1.0);
    } else {
      // base is the tap left of x, so ratio lies in (0, 1]: an integer x gets ratio 1, as in the reference.
      const double base = std::ceil(x) - 1;
      const int64_t start = interpolation_weights(x - base, scale, opt, w);
      const int64_t ibase = static_cast<int64_t>(base) + start;
      if (opt.exclude_outside) {
        double sum = 0;
        for (size_t j = 0; j < w.size(); ++j) {
          const int64_t i = ibase + static_cast<int64_t>(j);
          if (i < 0 || i >= in) w[j] = 0;
          sum += w[j];
        }
        if (sum != 0) {
          for (double& c : w) c /= sum;
        }
      }
      for (size_t j = 0; j < w.size(); ++j) {
        if (w[j] == 0) continue;  // a zero weight must not turn an inf or NaN neighbour into NaN
        p.index.push_back(std::clamp<int64_t>(ibase + static_cast<int64_t>(j), 0, in - 1));
        p.weight.push_back(w[j]);
      }
    }
    p.first.push_back(static_cast<int64_t>(p.index.size()));
  }
  return p;
}

std::vector<ResizeAxisPlan> resize_plans(const std::vector<int64_t>& x_shape, const ResizeRequest& req,
                                         const ResizeOptions& opt) {
  std::vector<ResizeAxisPlan> plans;
  for (size_t d = 0; d < x_shape.size(); ++d) {
    plans.push_back(resize_axis_plan(x_shape[d], req.out[d], req.scale[d], req.roi_start[d], req.roi_end[d], opt));
  }
  return plans;
}

ResizeRequest resize_request(const std::vector<int64_t>& x_shape, const std::vector<double>* scales,
                             const std::vector<int64_t>* sizes, const std::vector<double>& roi,
                             const std::vector<int64_t>& axes_in, const std::string& policy, const std::string& where) {
  const size_t rank = x_shape.size();
  std::vector<int64_t> axes = axes_in;
  if (axes.empty()) {
    for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
  }
  ResizeRequest req;
  req.out = x_shape;
  req.scale.assign(rank, 1.0);
  req.roi_start.assign(rank, 0.0);
  req.roi_end.assign(rank, 1.0);
  const size_t n = axes.size();
  if (!roi.empty()) {
    if (roi.size() != 2 * n) throw_bad_input("{} roi has {} values, expected {}", where, roi.size(), 2 * n);
    for (size_t i = 0; i < n; ++i) {
      req.roi_start[axes[i]] = roi[i];
      req.roi_end[axes[i]] = roi[n + i];
    }
  }
  if (scales) {
    if (scales->size() != n) throw_bad_input("{} scales has {} values, expected {}", where, scales->size(), n);
    for (size_t i = 0; i < n; ++i) {
      const double s = (*scales)[i];
      if (!(s > 0) || !std::isfinite(s)) throw_bad_input("{} scales must be positive and finite, got {}", where, s);
      const int64_t d = axes[i];
      req.scale[d] = s;
      req.out[d] = static_cast<int64_t>(std::floor(s * static_cast<double>(x_shape[d])));
    }
  } else {
    if (!sizes || sizes->size() != n) {
      throw_bad_input("{} sizes has {} values, expected {}", where, sizes ? sizes->size() : 0, n);
    }
    for (size_t i = 0; i < n; ++i) {
      if ((*sizes)[i] < 0) throw_bad_input("{} sizes must be >= 0, got {}", where, (*sizes)[i]);
      if (x_shape[axes[i]] == 0 && (*sizes)[i] != 0) {
        throw_bad_input("{} cannot resize axis {} of size 0 to {}", where, axes[i], (*sizes)[i]);
      }
    }
    if (policy == "stretch") {
      for (size_t i = 0; i < n; ++i) {
        const int64_t d = axes[i];
        req.out[d] = (*sizes)[i];
        if (x_shape[d] > 0) req.scale[d] = static_cast<double>((*sizes)[i]) / static_cast<double>(x_shape[d]);
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      double s = policy == "not_larger" ? INFINITY : 0.0;
      for (size_t i = 0; i < n; ++i) {
        if (x_shape[axes[i]] == 0) continue;
        const double r = static_cast<double>((*sizes)[i]) / static_cast<double>(x_shape[axes[i]]);
        s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
      }
      if (!(s > 0) || !std::isfinite(s)) throw_bad_input("{} sizes give a scale of {} under {}", where, s, policy);
      for (size_t i = 0; i < n; ++i) {
        const int64_t d = axes[i];
        req.scale[d] = s;
        req.out[d] = static_cast<int64_t>(s * static_cast<double>(x_shape[d]) + 0.5);  // round half up
      }
    } else {
      throw_bad_input("{} keep_aspect_ratio_policy '{}' is not stretch, not_larger or not_smaller", where, policy);
    }
  }
  double total = 1;
  for (size_t d = 0; d < rank; ++d) {
    if (x_shape[d] == 0 && req.out[d] != 0) {
      throw_bad_input("{} cannot resize axis {} of size 0 to {}", where, d, req.out[d]);
    }
    total *= static_cast<double>(req.out[d]);
  }
  if (total > 0x1p40) {  // refuse a request that cannot be allocated instead of failing inside new
    throw_bad_input("{} the output {} would have {:.3g} elements", where, ir::shape_to_string(req.out), total);
  }
  return req;
}

}  // namespace scalec::kernels
