// Pooling and resizing ops:
//   MaxPool 1-22 (storage_order and Indices 8+, ceil_mode and dilations 10+), MaxUnpool 9-22,
//   AveragePool 1-22 (count_include_pad 7+, ceil_mode 10+, dilations 19+), LpPool 1-22 (float p
//   at 1, int p 2+, ceil_mode and dilations 18+), GlobalMaxPool, GlobalAveragePool, GlobalLpPool
//   1-22, Resize 10 (scales input, asymmetric) and 11-22 (roi/scales/sizes; antialias, axes and
//   keep_aspect_ratio_policy 18+; half_pixel_symmetric 19+), Upsample 1-10 (attributes at 1 and
//   7, scales input 9+).
#include <cmath>

#include "ir/error.h"
#include "kernels/common/window_size.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/resize.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/resize_args.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// LpPool-1 and GlobalLpPool-1 have a float p; later versions an int.
double lp_exponent(const OpContext& ctx) {
  const ir::Attribute* a = ctx.node().attribute("p");
  double p = 2.0;
  if (a) p = a->kind == ir::Attribute::Kind::kFloat ? a->f : static_cast<double>(a->i);
  if (!(p > 0) || !std::isfinite(p)) throw_bad_input("{} p must be positive, got {}", ctx.where(), p);
  return p;
}

// Pads the result with empty tensors for declared outputs the kernel does not produce.
std::vector<Tensor> with_outputs(const OpContext& ctx, std::vector<Tensor> outs) {
  while (outs.size() < ctx.num_outputs()) outs.emplace_back();
  return outs;
}

ForwardFn pooling(PoolKind kind) {
  return [kind](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    PoolGeometry g = pool_geometry(pool_attrs(ctx), x.shape(), ctx.where());
    PoolReduce r;
    r.kind = kind;
    r.count_include_pad = ctx.attr_int("count_include_pad", 0) != 0;
    if (kind == PoolKind::kLp) r.p = lp_exponent(ctx);
    if (kind == PoolKind::kMax) {
      r.want_indices = ctx.output_requested(1);
      r.storage_order = ctx.attr_int("storage_order", 0);
      if (r.storage_order != 0 && r.storage_order != 1) {
        throw_bad_input("{} storage_order must be 0 or 1, got {}", ctx.where(), r.storage_order);
      }
    }
    return with_outputs(ctx, pool_forward_cpu(ctx.pool(), x, g, r, ctx.where()));
  };
}

ForwardFn global_pooling(PoolKind kind) {
  return [kind](const OpContext& ctx) {
    PoolReduce r;
    r.kind = kind;
    if (kind == PoolKind::kLp) r.p = lp_exponent(ctx);
    return std::vector<Tensor>{global_pool_forward_cpu(ctx.pool(), ctx.input(0), r, ctx.where())};
  };
}

// MaxUnpool's output: output_shape when given, else (in - 1) * stride + kernel - pads per spatial axis.
Tensor max_unpool(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (x.rank() < 3) throw_bad_input("{} input must have rank >= 3, got shape {}", ctx.where(), ir::shape_to_string(x.shape()));
  const auto r = static_cast<size_t>(x.rank() - 2);
  PoolAttrs a = pool_attrs(ctx);
  std::vector<int64_t> shape = x.shape();
  // pool_geometry validates the attributes; its window arithmetic runs on a stand-in input.
  std::vector<int64_t> probe = {1, 1};
  for (size_t i = 0; i < r; ++i) probe.push_back(int64_t{1} << 32);
  PoolGeometry g = pool_geometry(a, probe, ctx.where());
  for (size_t i = 0; i < r; ++i) {
    shape[i + 2] = unpooled_size(x.shape()[i + 2], g.kernel[i], g.stride[i], g.pad_begin[i], g.pad_end[i]);
    if (shape[i + 2] < 0) throw_bad_input("{} pads exceed the unpooled size on spatial axis {}", ctx.where(), i);
  }
  if (ctx.has_input(2)) {
    const Tensor& s = ctx.input(2);
    if (s.dtype() != ir::DType::kInt64 || s.numel() != x.rank()) {
      throw_bad_input("{} output_shape must be int64 with {} values", ctx.where(), x.rank());
    }
    auto v = s.values<int64_t>();
    shape.assign(v.begin(), v.end());
    for (int64_t d : shape) {
      if (d < 0) throw_bad_input("{} output_shape has a negative dimension {}", ctx.where(), d);
    }
  }
  return max_unpool_forward_cpu(x, indices, shape, ctx.where());
}

std::vector<double> tensor_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.element_as_double(i);
  return v;
}

// A 1-D input given with at least one element (an empty tensor counts as omitted).
const Tensor* nonempty_input(const OpContext& ctx, size_t i) {
  return ctx.has_input(i) && ctx.input(i).numel() > 0 ? &ctx.input(i) : nullptr;
}

ResizeMode resize_mode(const OpContext& ctx, const std::string& mode) {
  if (mode == "nearest") return ResizeMode::kNearest;
  if (mode == "linear" || (mode == "bilinear" && ctx.node().op_type() == "Upsample")) return ResizeMode::kLinear;
  if (mode == "cubic" && ctx.node().op_type() == "Resize" && ctx.opset() >= 11) return ResizeMode::kCubic;
  throw_bad_input("{} mode '{}' is not supported (nearest, linear{})", ctx.where(), mode,
                  ctx.opset() >= 11 && ctx.node().op_type() == "Resize" ? ", cubic" : "");
}

ResizeCoord resize_coord(const OpContext& ctx) {
  const std::string m = ctx.attr_string("coordinate_transformation_mode", "half_pixel");
  if (m == "half_pixel") return ResizeCoord::kHalfPixel;
  if (m == "pytorch_half_pixel") return ResizeCoord::kPytorchHalfPixel;
  if (m == "align_corners") return ResizeCoord::kAlignCorners;
  if (m == "asymmetric") return ResizeCoord::kAsymmetric;
  if (m == "tf_crop_and_resize") return ResizeCoord::kTfCropAndResize;
  if (m == "tf_half_pixel_for_nn" && ctx.opset() < 13) return ResizeCoord::kTfHalfPixelForNn;
  if (m == "half_pixel_symmetric" && ctx.opset() >= 19) return ResizeCoord::kHalfPixelSymmetric;
  throw_bad_input("{} coordinate_transformation_mode '{}' is not defined at this opset", ctx.where(), m);
}

ResizeNearest resize_nearest(const OpContext& ctx) {
  const std::string m = ctx.attr_string("nearest_mode", "round_prefer_floor");
  if (m == "round_prefer_floor") return ResizeNearest::kRoundPreferFloor;
  if (m == "round_prefer_ceil") return ResizeNearest::kRoundPreferCeil;
  if (m == "floor") return ResizeNearest::kFloor;
  if (m == "ceil") return ResizeNearest::kCeil;
  throw_bad_input("{} nearest_mode '{}' is not round_prefer_floor, round_prefer_ceil, floor or ceil", ctx.where(), m);
}

// Resize-10 and Upsample: scales for every axis, asymmetric coordinates, ONNX Runtime's nearest rule.
ResizeArgs resize_legacy(const OpContext& ctx, const std::vector<double>& scales) {
  const Tensor& x = ctx.input(0);
  ResizeOptions opt;
  opt.mode = resize_mode(ctx, ctx.attr_string("mode", "nearest"));
  opt.coord = ResizeCoord::kAsymmetric;
  opt.nearest = ResizeNearest::kSimple;
  return {resize_request(x.shape(), &scales, nullptr, {}, {}, "stretch", ctx.where()), opt};
}

ResizeArgs resize(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ResizeOptions opt;
  opt.mode = resize_mode(ctx, ctx.attr_string("mode", "nearest"));
  opt.coord = resize_coord(ctx);
  opt.nearest = resize_nearest(ctx);
  opt.cubic_a = ctx.attr_float("cubic_coeff_a", -0.75f);
  opt.exclude_outside = ctx.attr_int("exclude_outside", 0) != 0;
  opt.extrapolation = ctx.attr_float("extrapolation_value", 0.0f);
  opt.antialias = ctx.attr_int("antialias", 0) != 0 && opt.mode != ResizeMode::kNearest;
  const std::vector<int64_t> axes = resize_axes(ctx, ctx.attr_ints("axes"), x.rank());
  const Tensor* scales_t = nonempty_input(ctx, 2);
  const Tensor* sizes_t = nonempty_input(ctx, 3);
  if ((scales_t != nullptr) == (sizes_t != nullptr)) {
    throw_bad_input("{} exactly one of scales and sizes must be given (non-empty)", ctx.where());
  }
  std::vector<double> roi;
  if (opt.coord == ResizeCoord::kTfCropAndResize) {
    const Tensor* roi_t = nonempty_input(ctx, 1);
    if (!roi_t) throw_bad_input("{} tf_crop_and_resize needs the roi input", ctx.where());
    roi = tensor_doubles(*roi_t);
  }
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  if (scales_t) {
    scales = tensor_doubles(*scales_t);
  } else {
    if (sizes_t->dtype() != ir::DType::kInt64) throw_bad_input("{} sizes must be int64", ctx.where());
    auto v = sizes_t->values<int64_t>();
    sizes.assign(v.begin(), v.end());
  }
  std::string policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch");
  return {resize_request(x.shape(), scales_t ? &scales : nullptr, scales_t ? nullptr : &sizes, roi, axes, policy,
                         ctx.where()),
          opt};
}

// Upsample's scales: height_scale/width_scale (1-6, 4-D input), the scales attribute (7-8), or input 1 (9+).
std::vector<double> upsample_scales(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (ctx.opset() >= 9) return tensor_doubles(ctx.input(1));
  if (ctx.opset() >= 7) {
    std::vector<float> s = ctx.attr_floats("scales");
    if (s.empty()) throw_bad_input("{} the scales attribute is required", ctx.where());
    return {s.begin(), s.end()};
  }
  if (x.rank() != 4) throw_bad_input("{} needs a 4-D input, got shape {}", ctx.where(), ir::shape_to_string(x.shape()));
  if (!ctx.has_attr("height_scale") || !ctx.has_attr("width_scale")) {
    throw_bad_input("{} height_scale and width_scale are required", ctx.where());
  }
  return {1.0, 1.0, ctx.attr_float("height_scale", 1.0f), ctx.attr_float("width_scale", 1.0f)};
}

std::vector<Tensor> resize_op(const OpContext& ctx) {
  const ResizeArgs a = resize_args(ctx);
  return {resize_forward_cpu(ctx.pool(), ctx.input(0), a.request, a.options, ctx.where())};
}

}  // namespace

std::vector<int64_t> resize_axes(const NodeAttrs& ctx, std::vector<int64_t> axes, int64_t rank) {
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& a : axes) {
    a = normalize_axis(ctx, a, rank);
    if (seen[static_cast<size_t>(a)]) throw_bad_input("{} axis {} is repeated in axes", ctx.where(), a);
    seen[static_cast<size_t>(a)] = true;
  }
  return axes;
}

ResizeArgs resize_args(const OpContext& ctx) {
  if (ctx.node().op_type() == "Upsample") return resize_legacy(ctx, upsample_scales(ctx));
  if (ctx.opset() < 11) return resize_legacy(ctx, tensor_doubles(ctx.input(1)));
  return resize(ctx);
}

PoolAttrs pool_attrs(const NodeAttrs& ctx) {
  PoolAttrs a;
  a.kernel = ctx.attr_ints("kernel_shape");
  if (a.kernel.empty()) throw_bad_input("{} kernel_shape is required", ctx.where());
  a.strides = ctx.attr_ints("strides");
  a.dilations = ctx.attr_ints("dilations");
  a.pads = ctx.attr_ints("pads");
  a.auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  a.ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  return a;
}

void register_pool_ops(OpRegistry& r) {
  r.add("MaxPool", 1, kLatestOpset, pooling(PoolKind::kMax));
  r.add("MaxUnpool", 9, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{max_unpool(ctx)}; });
  r.add("AveragePool", 1, kLatestOpset, pooling(PoolKind::kAverage));
  r.add("LpPool", 1, kLatestOpset, pooling(PoolKind::kLp));
  r.add("GlobalMaxPool", 1, kLatestOpset, global_pooling(PoolKind::kMax));
  r.add("GlobalAveragePool", 1, kLatestOpset, global_pooling(PoolKind::kAverage));
  r.add("GlobalLpPool", 1, kLatestOpset, global_pooling(PoolKind::kLp));
  r.add("Resize", 10, 10, resize_op);
  r.add("Resize", 11, kLatestOpset, resize_op);
  r.add("Upsample", 1, 10, resize_op);
}

}  // namespace scalec::kernels
