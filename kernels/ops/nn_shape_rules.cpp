#include "kernels/ops/nn_shape_rules.h"

#include <string>

#include "ir/error.h"

namespace scalec::kernels::shapes {

namespace {

// A per-axis attribute list: `fallback` everywhere when absent, else exactly `size` values >= `min`.
std::vector<int64_t> axis_list(const InferContext& ctx, const char* name, size_t size, int64_t fallback, int64_t min) {
  std::vector<int64_t> v = ctx.attr_ints(name);
  if (v.empty()) return std::vector<int64_t>(size, fallback);
  if (v.size() != size) throw_bad_input("{} {} has {} values, expected {}", ctx.where(), name, v.size(), size);
  for (int64_t e : v) {
    if (e < min) throw_bad_input("{} {} must be >= {}, got {}", ctx.where(), name, min, e);
  }
  return v;
}

}  // namespace

WindowAttrs window_attrs(const InferContext& ctx, size_t rank) {
  WindowAttrs a;
  a.strides = axis_list(ctx, "strides", rank, 1, 1);
  a.dilations = axis_list(ctx, "dilations", rank, 1, 1);
  a.pads = axis_list(ctx, "pads", 2 * rank, 0, 0);
  const std::string text = ctx.attr_string("auto_pad", "NOTSET");
  const std::optional<AutoPad> mode = auto_pad_of(text);
  if (!mode) throw_bad_input("{} unknown auto_pad '{}'", ctx.where(), text);
  a.auto_pad = *mode;
  a.ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  return a;
}

Dims window_dims(const InferContext& ctx, const Dims& in, const std::vector<std::optional<int64_t>>& kernel,
                 const WindowAttrs& a) {
  const size_t rank = in.size();
  const bool same = a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower;
  Dims out;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t stride = a.strides[i];
    const bool no_pads = a.auto_pad == AutoPad::kValid || (a.pads[i] == 0 && a.pads[rank + i] == 0);
    if (!in[i].value) {
      // out = in exactly: SAME at stride 1, or a 1-tap window at stride 1 without pads.
      const bool identity = stride == 1 && (same || (kernel[i] == 1 && no_pads));
      out.push_back(identity ? in[i] : unknown_dim());
      continue;
    }
    if (!kernel[i] && !same) {
      out.push_back(unknown_dim());
      continue;
    }
    // SAME's output size does not depend on the kernel, so an unknown one may stand as 1.
    const WindowAxis w = window_axis(*in[i].value, kernel[i].value_or(1), stride, a.dilations[i], a.pads[i],
                                     a.pads[rank + i], a.auto_pad, a.ceil_mode);
    if (!w.fits) {
      throw_bad_input(
          "{} the window (extent {} with dilation) is larger than the padded input ({}) along spatial axis {}",
          ctx.where(), (*kernel[i] - 1) * a.dilations[i] + 1, *in[i].value + w.pad_begin + w.pad_end, i);
    }
    out.push_back(ir::Dim::of(w.out));
  }
  return out;
}

std::optional<size_t> window_rank(const InferContext& ctx, const ir::TypeInfo& x, const ir::TypeInfo* w) {
  std::optional<size_t> rank;
  if (std::optional<int64_t> r = rank_of(x)) {
    if (*r < 3) {
      throw_bad_input("{} X must have rank >= 3 (N, C, spatial...), got {}", ctx.where(), ir::type_to_string(x));
    }
    rank = static_cast<size_t>(*r);
  }
  if (std::optional<int64_t> r = w ? rank_of(*w) : std::nullopt) {
    if (rank && static_cast<size_t>(*r) != *rank) {
      throw_bad_input("{} W {} must have the rank of X {}", ctx.where(), ir::type_to_string(*w), ir::type_to_string(x));
    }
    if (*r < 3) throw_bad_input("{} W must have rank >= 3, got {}", ctx.where(), ir::type_to_string(*w));
    rank = static_cast<size_t>(*r);
  }
  const std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  if (!rank && !kernel.empty()) rank = kernel.size() + 2;
  return rank;
}

std::optional<Dims> conv_dims(const InferContext& ctx, const ir::TypeInfo& x, const ir::TypeInfo& w) {
  const std::optional<size_t> rank = window_rank(ctx, x, &w);
  if (!rank) return std::nullopt;
  const size_t r = *rank - 2;
  const Dims xs = x.shape ? *x.shape : unknown_dims(*rank);
  const Dims ws = w.shape ? *w.shape : unknown_dims(*rank);
  const int64_t group = ctx.attr_int("group", 1);
  if (group < 1) throw_bad_input("{} group must be >= 1, got {}", ctx.where(), group);
  if (ws[1].value && xs[1].value && *ws[1].value * group != *xs[1].value) {
    throw_bad_input("{} X has {} channels but W {} with group {} expects {}", ctx.where(), *xs[1].value,
                    ir::type_to_string(w), group, *ws[1].value * group);
  }
  if (ws[0].value && *ws[0].value % group != 0) {
    throw_bad_input("{} W's {} output channels do not divide into {} groups", ctx.where(), *ws[0].value, group);
  }
  const std::vector<int64_t> ks = ctx.attr_ints("kernel_shape");
  if (!ks.empty() && ks.size() != r) {
    throw_bad_input("{} kernel_shape has {} values, expected {}", ctx.where(), ks.size(), r);
  }
  std::vector<std::optional<int64_t>> kernel(r);
  for (size_t i = 0; i < r; ++i) {
    kernel[i] = ws[2 + i].value;
    if (ks.empty()) continue;
    if (ks[i] < 1 || dims_differ(ws[2 + i], ks[i])) {
      throw_bad_input("{} kernel_shape {} does not match W {}", ctx.where(), ir::shape_to_string(ks),
                      ir::type_to_string(w));
    }
    kernel[i] = ks[i];
  }
  Dims out{xs[0], ws[0]};
  const Dims spatial = window_dims(ctx, Dims(xs.begin() + 2, xs.end()), kernel, window_attrs(ctx, r));
  out.insert(out.end(), spatial.begin(), spatial.end());
  return out;
}

std::optional<Dims> matmul_dims(const InferContext& ctx, const ir::TypeInfo& a, const ir::TypeInfo& b) {
  const std::optional<int64_t> ra = rank_of(a), rb = rank_of(b);
  if (ra == 0 || rb == 0) throw_bad_input("{} operands must have rank >= 1", ctx.where());
  if (!ra || !rb) return std::nullopt;
  Dims sa = *a.shape, sb = *b.shape;
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), ir::Dim::of(1));
  if (b_vec) sb.push_back(ir::Dim::of(1));
  if (dims_differ(sa.back(), sb[sb.size() - 2])) {
    throw_bad_input("{} shapes {} and {} cannot be multiplied (K = {} vs {})", ctx.where(), ir::type_to_string(a),
                    ir::type_to_string(b), *sa.back().value, *sb[sb.size() - 2].value);
  }
  const ir::TypeInfo a_batch = tensor_type(0, Dims(sa.begin(), sa.end() - 2));
  const ir::TypeInfo b_batch = tensor_type(0, Dims(sb.begin(), sb.end() - 2));
  Dims out = *broadcast(ctx, {&a_batch, &b_batch});
  if (!a_vec) out.push_back(sa[sa.size() - 2]);
  if (!b_vec) out.push_back(sb.back());
  return out;
}

std::string dim_string(const ir::Dim& d) {
  if (d.value) return std::to_string(*d.value);
  return d.param.empty() ? "?" : d.param;
}

}  // namespace scalec::kernels::shapes
