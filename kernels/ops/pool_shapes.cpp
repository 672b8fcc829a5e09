// Shape and type rules of the pool family (see kernels/ops/shape_rules.h): MaxPool (and its
// Indices), AveragePool, LpPool, the Global* pools, MaxUnpool, Resize and Upsample. Window sizes
// come from kernels/common/window_size.h and resize sizes from resize_request, as in the kernels.
#include <optional>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/tensor.h"
#include "kernels/cpu/resize.h"
#include "kernels/ops/nn_shape_rules.h"
#include "kernels/ops/op_registry.h"
#include "kernels/ops/resize_args.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels {

namespace {

using shapes::Dims;

// kernel_shape (required) for `rank` spatial axes.
std::vector<std::optional<int64_t>> pool_kernel(const InferContext& ctx, size_t rank) {
  const std::vector<int64_t> ks = ctx.attr_ints("kernel_shape");
  if (ks.empty()) throw_bad_input("{} kernel_shape is required", ctx.where());
  if (ks.size() != rank) {
    throw_bad_input("{} kernel_shape has {} values but the input has {} spatial axes", ctx.where(), ks.size(), rank);
  }
  std::vector<std::optional<int64_t>> kernel;
  for (int64_t k : ks) {
    if (k < 1) throw_bad_input("{} kernel_shape must be >= 1, got {}", ctx.where(), k);
    kernel.emplace_back(k);
  }
  return kernel;
}

// MaxPool, AveragePool, LpPool: [N, C, out...]; MaxPool's Indices (int64) has the same shape.
std::vector<ir::TypeInfo> pool_rule(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  std::optional<size_t> rank = shapes::window_rank(ctx, x, nullptr);
  if (!rank) throw_bad_input("{} kernel_shape is required", ctx.where());
  const size_t r = *rank - 2;
  const std::vector<std::optional<int64_t>> kernel = pool_kernel(ctx, r);
  if (ctx.node().op_type() == "MaxPool") {
    const int64_t order = ctx.attr_int("storage_order", 0);
    if (order != 0 && order != 1) throw_bad_input("{} storage_order must be 0 or 1, got {}", ctx.where(), order);
  }
  const Dims xs = x.shape ? *x.shape : shapes::unknown_dims(*rank);
  Dims out{xs[0], xs[1]};
  const Dims spatial = shapes::window_dims(ctx, Dims(xs.begin() + 2, xs.end()), kernel, shapes::window_attrs(ctx, r));
  out.insert(out.end(), spatial.begin(), spatial.end());
  std::vector<ir::TypeInfo> types{shapes::like(x, out)};
  if (ctx.num_outputs() > 1) types.push_back(shapes::tensor_type(static_cast<int32_t>(ir::DType::kInt64), out));
  return types;
}

// Global*Pool: every spatial axis becomes 1.
std::vector<ir::TypeInfo> global_pool_rule(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  if (!x.shape) return {shapes::like(x, std::nullopt)};
  if (x.shape->size() < 2) {
    throw_bad_input("{} input must have rank >= 2 (N, C, spatial...), got {}", ctx.where(), ir::type_to_string(x));
  }
  Dims out = *x.shape;
  for (size_t i = 2; i < out.size(); ++i) out[i] = ir::Dim::of(1);
  return {shapes::like(x, out)};
}

// MaxUnpool: output_shape (input 2) when given, else (in - 1) * stride + kernel - pads.
std::vector<ir::TypeInfo> max_unpool_rule(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  const ir::TypeInfo& indices = ctx.input_type(1);
  if (x.shape && indices.shape) {
    bool differ = x.shape->size() != indices.shape->size();
    for (size_t i = 0; !differ && i < x.shape->size(); ++i)
      differ = shapes::dims_differ((*x.shape)[i], (*indices.shape)[i]);
    if (differ) {
      throw_bad_input("{} indices {} must have the shape of X {}", ctx.where(), ir::type_to_string(indices),
                      ir::type_to_string(x));
    }
  }
  std::optional<size_t> rank = shapes::window_rank(ctx, x, nullptr);
  if (!rank) throw_bad_input("{} kernel_shape is required", ctx.where());
  const size_t r = *rank - 2;
  const std::vector<std::optional<int64_t>> kernel = pool_kernel(ctx, r);
  const shapes::WindowAttrs a = shapes::window_attrs(ctx, r);
  if (ctx.has_input(2)) {
    if (std::optional<std::vector<int64_t>> shape = shapes::known_ints(ctx.input_value(2))) {
      if (shape->size() != *rank) throw_bad_input("{} output_shape must have {} values", ctx.where(), *rank);
      Dims out;
      for (int64_t d : *shape) {
        if (d < 0) throw_bad_input("{} output_shape has a negative dimension {}", ctx.where(), d);
        out.push_back(ir::Dim::of(d));
      }
      return {shapes::like(x, out)};
    }
    return {shapes::like(x, shapes::unknown_dims(*rank))};
  }
  const Dims xs = x.shape ? *x.shape : shapes::unknown_dims(*rank);
  Dims out{xs[0], xs[1]};
  for (size_t i = 0; i < r; ++i) {
    const ir::Dim& in = xs[2 + i];
    if (!in.value) {
      const bool identity = *kernel[i] == 1 && a.strides[i] == 1 && a.pads[i] == 0 && a.pads[r + i] == 0;
      out.push_back(identity ? in : shapes::unknown_dim());
      continue;
    }
    const int64_t size = unpooled_size(*in.value, *kernel[i], a.strides[i], a.pads[i], a.pads[r + i]);
    if (size < 0) throw_bad_input("{} pads exceed the unpooled size on spatial axis {}", ctx.where(), i);
    out.push_back(ir::Dim::of(size));
  }
  return {shapes::like(x, out)};
}

// What a shape rule knows of Resize's scales or sizes input.
struct ResizeArg {
  bool absent = false;   ///< omitted or certainly empty
  bool present = false;  ///< certainly non-empty
  std::optional<size_t> length;
  const ir::Tensor* value = nullptr;  ///< non-empty known data
};

ResizeArg resize_arg(const InferContext& ctx, size_t i) {
  ResizeArg a;
  if (!ctx.has_input(i)) {
    a.absent = true;
    return a;
  }
  const ir::Tensor* v = ctx.input_value(i);
  std::optional<int64_t> n = v ? std::optional(v->numel()) : std::nullopt;
  const ir::TypeInfo& t = ctx.input_type(i);
  if (!n) n = shapes::known_numel(t);
  if (n) {
    a.absent = *n == 0;
    a.present = *n > 0;
    a.length = static_cast<size_t>(*n);
  }
  if (a.present && v) a.value = v;
  return a;
}

std::vector<double> doubles_of(const ir::Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.element_as_double(i);
  return v;
}

// Y's dims when x is resized by `scales` or to `sizes` (both null: values unknown, `count` of them
// when known) over `axes` (empty: all). Sizes come from the kernel's resize_request, with unknown
// input dims stood in by 1 and their outputs left unknown unless they cannot change.
std::optional<Dims> resized_dims(const InferContext& ctx, const ir::TypeInfo& x, const std::vector<double>* scales,
                                 const std::vector<int64_t>* sizes, std::optional<size_t> count,
                                 std::vector<int64_t> axes, const std::string& policy) {
  const std::optional<int64_t> rank = shapes::rank_of(x);
  if (!rank) {
    if (!axes.empty()) return std::nullopt;  // the rank is not the number of values
    if (sizes && policy == "stretch") {
      Dims out;
      for (int64_t s : *sizes) {
        if (s < 0) throw_bad_input("{} sizes must be >= 0, got {}", ctx.where(), s);
        out.push_back(ir::Dim::of(s));
      }
      return out;
    }
    if (scales) count = scales->size();
    if (sizes) count = sizes->size();
    return count ? std::optional(shapes::unknown_dims(*count)) : std::nullopt;
  }
  axes = resize_axes(ctx, std::move(axes), *rank);
  std::vector<bool> resized(static_cast<size_t>(*rank), axes.empty());
  for (int64_t a : axes) resized[static_cast<size_t>(a)] = true;
  const Dims& xs = *x.shape;
  Dims out = xs;
  if (!scales && !sizes) {
    for (size_t d = 0; d < out.size(); ++d) {
      if (resized[d]) out[d] = shapes::unknown_dim();
    }
    return out;
  }
  std::vector<int64_t> probe;
  bool unknown_resized = false;
  for (size_t d = 0; d < xs.size(); ++d) {
    probe.push_back(xs[d].value.value_or(1));
    unknown_resized = unknown_resized || (resized[d] && !xs[d].value);
  }
  const ResizeRequest req = resize_request(probe, scales, sizes, {}, axes, policy, ctx.where());
  // keep_aspect_ratio_policy derives one scale from every resized axis.
  const bool coupled = sizes && policy != "stretch" && unknown_resized;
  for (size_t d = 0; d < out.size(); ++d) {
    if (!resized[d]) continue;
    if (coupled) {
      out[d] = shapes::unknown_dim();
    } else if (xs[d].value || sizes) {
      out[d] = ir::Dim::of(req.out[d]);  // stretched sizes do not depend on the input
    } else if (req.scale[d] != 1.0) {
      out[d] = shapes::unknown_dim();
    }
  }
  return out;
}

// Resize 11+: X, roi, scales, sizes (exactly one of the last two non-empty).
std::vector<ir::TypeInfo> resize_rule(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  const ResizeArg scales = resize_arg(ctx, 2), sizes = resize_arg(ctx, 3);
  if ((scales.present && sizes.present) || (scales.absent && sizes.absent)) {
    throw_bad_input("{} exactly one of scales and sizes must be given (non-empty)", ctx.where());
  }
  const std::vector<int64_t> axes = ctx.attr_ints("axes");
  const std::string policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch");
  std::optional<Dims> out;
  if (scales.value && !sizes.present) {
    const std::vector<double> s = doubles_of(*scales.value);
    out = resized_dims(ctx, x, &s, nullptr, std::nullopt, axes, policy);
  } else if (sizes.value && !scales.present) {
    if (sizes.value->dtype() != ir::DType::kInt64) throw_bad_input("{} sizes must be int64", ctx.where());
    const std::vector<int64_t> s = *shapes::known_ints(sizes.value);
    out = resized_dims(ctx, x, nullptr, &s, std::nullopt, axes, policy);
  } else {
    out = resized_dims(ctx, x, nullptr, nullptr, scales.present ? scales.length : sizes.length, axes, policy);
  }
  return {shapes::like(x, std::move(out))};
}

// Resize 10 and Upsample: scales for every axis, from input 1 (Resize-10, Upsample-9+), the scales
// attribute (Upsample 7-8) or height_scale/width_scale of a 4-D input (Upsample 1-6).
std::vector<ir::TypeInfo> legacy_resize_rule(const InferContext& ctx) {
  const ir::TypeInfo& x = ctx.input_type(0);
  std::vector<double> scales;
  if (ctx.node().op_type() == "Resize" || ctx.opset() >= 9) {
    const ResizeArg arg = resize_arg(ctx, 1);
    if (!arg.value) return {shapes::like(x, resized_dims(ctx, x, nullptr, nullptr, arg.length, {}, "stretch"))};
    scales = doubles_of(*arg.value);
  } else if (ctx.opset() >= 7) {
    const std::vector<float> s = ctx.attr_floats("scales");
    if (s.empty()) throw_bad_input("{} the scales attribute is required", ctx.where());
    scales.assign(s.begin(), s.end());
  } else {
    if (x.shape && x.shape->size() != 4) {
      throw_bad_input("{} needs a 4-D input, got {}", ctx.where(), ir::type_to_string(x));
    }
    if (!ctx.has_attr("height_scale") || !ctx.has_attr("width_scale")) {
      throw_bad_input("{} height_scale and width_scale are required", ctx.where());
    }
    scales = {1.0, 1.0, ctx.attr_float("height_scale", 1.0f), ctx.attr_float("width_scale", 1.0f)};
  }
  return {shapes::like(x, resized_dims(ctx, x, &scales, nullptr, std::nullopt, {}, "stretch"))};
}

}  // namespace

void register_pool_shapes(OpRegistry& r) {
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) r.set_infer(op, pool_rule);
  for (const char* op : {"GlobalMaxPool", "GlobalAveragePool", "GlobalLpPool"}) r.set_infer(op, global_pool_rule);
  r.set_infer("MaxUnpool", max_unpool_rule);
  r.set_infer("Resize",
              [](const InferContext& ctx) { return ctx.opset() >= 11 ? resize_rule(ctx) : legacy_resize_rule(ctx); });
  r.set_infer("Upsample", legacy_resize_rule);
}

}  // namespace scalec::kernels
