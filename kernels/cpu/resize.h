#pragma once
// CPU Resize: nearest, N-linear and N-cubic interpolation with every ONNX coordinate transform,
// antialiasing, exclude_outside and tf_crop_and_resize extrapolation. Serves Resize 10-19 and
// Upsample 1-10 (kernels/ops/pool_ops.cpp). Interpolation is separable: each resized axis gets a
// table of (input index, weight) taps per output index, and the data goes through one 1-D pass per
// axis (nearest: one gather over all axes).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// Interpolation mode.
enum class ResizeMode { kNearest, kLinear, kCubic };
/// coordinate_transformation_mode: how an output coordinate maps to an input coordinate.
enum class ResizeCoord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize,
};
/// nearest_mode; kSimple is Resize-10/Upsample's rule (floor, or ceil when downsampling), as ONNX Runtime.
enum class ResizeNearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

/// The attributes of a Resize node.
struct ResizeOptions {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoord coord = ResizeCoord::kHalfPixel;
  ResizeNearest nearest = ResizeNearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;        ///< linear/cubic: widen the filter by 1/scale when downsampling
  double extrapolation = 0.0;   ///< tf_crop_and_resize: value of samples outside the input
};

/// The output shape and, per axis of X, the scale and roi the coordinate transform uses.
struct ResizeRequest {
  std::vector<int64_t> out;
  std::vector<double> scale;
  std::vector<double> roi_start, roi_end;
};

/// Resolves the op's scales or sizes (exactly one non-null), over `axes` (empty: all axes, else
/// already validated and non-negative), with keep_aspect_ratio_policy for sizes. `roi` is empty or
/// [starts..., ends...] over the same axes. Throws Error(kBadInput) prefixed by `where`.
ResizeRequest resize_request(const std::vector<int64_t>& x_shape, const std::vector<double>* scales,
                             const std::vector<int64_t>* sizes, const std::vector<double>& roi,
                             const std::vector<int64_t>& axes, const std::string& keep_aspect_ratio_policy,
                             const std::string& where);

/// The taps of one axis: output o reads index[first[o] .. first[o+1]) with the matching weights
/// (input indices already clamped to the edge); outside[o] marks tf_crop_and_resize samples that
/// take the extrapolation value.
struct ResizeAxisPlan {
  int64_t in = 0;
  int64_t out = 0;
  std::vector<int64_t> first;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> outside;
  bool any_outside = false;
  /// True when the axis maps every output o to input o with weight 1 (no pass needed).
  bool identity() const;
};

/// Plans one axis of `in` elements resized to `out` at `scale`, as the ONNX reference does.
ResizeAxisPlan resize_axis_plan(int64_t in, int64_t out, double scale, double roi_start, double roi_end,
                                const ResizeOptions& opt);

/// Plans every axis of an input of `x_shape` resized as `req` asks (the forward and the backward
/// pass read the same plans).
std::vector<ResizeAxisPlan> resize_plans(const std::vector<int64_t>& x_shape, const ResizeRequest& req,
                                         const ResizeOptions& opt);

/// Sets every element of `data` (of `shape`) whose index along some axis d is marked
/// plans[d].outside (tf_crop_and_resize samples outside the input) to `value`.
template <typename T>
void resize_fill_outside(T* data, const std::vector<int64_t>& shape, const std::vector<ResizeAxisPlan>& plans,
                         T value) {
  for (size_t axis = 0; axis < plans.size(); ++axis) {
    if (!plans[axis].any_outside) continue;
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    const int64_t n = shape[axis];
    for (int64_t b = 0; b < outer; ++b) {
      for (int64_t o = 0; o < n; ++o) {
        if (plans[axis].outside[static_cast<size_t>(o)]) std::fill_n(data + (b * n + o) * inner, inner, value);
      }
    }
  }
}

/// Resizes x to req.out. Nearest works for every fixed-size element type; linear and cubic for
/// float, double and integers (integers computed in double, truncated and saturated).
ir::Tensor resize_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ResizeRequest& req, const ResizeOptions& opt,
                              const std::string& where);

/// The gradient with respect to X (of `x_shape`) of resize_forward_cpu, from the output gradient
/// `dy`: the adjoint of each axis's interpolation (resize_backward.cpp). Float and double.
ir::Tensor resize_backward_cpu(ThreadPool& pool, const ir::Tensor& dy, const std::vector<int64_t>& x_shape,
                               const ResizeRequest& req, const ResizeOptions& opt, const std::string& where);

}  // namespace scalec::kernels
