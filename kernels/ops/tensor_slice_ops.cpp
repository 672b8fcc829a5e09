// Tensor ops that cut, join or pad along axes: Concat (1+; axis required at 4+), Split (1: split
// attribute or input, 2-12 attribute, 13+ input, num_outputs at 18+), Slice (1-9 attributes, 10+
// inputs with steps), Pad (1 `paddings`, 2-10 `pads`/`value` attributes, 11+ inputs, axes input at
// 18+; modes constant, reflect, edge, wrap), Compress (9+), Trilu (14+). Any dtype of whole bytes,
// and strings, through per-axis offset tables (kernels/cpu/tensor_copy.h).
#include <algorithm>
#include <limits>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/cpu/tensor_fill.h"
#include "kernels/ops/tensor_ops_internal.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// The whole of `x` except axis `axis`, which reads `count` coordinates from `start` by `step`.
AxisOffsets axes_with_range(const Tensor& x, int64_t axis, int64_t count, int64_t start, int64_t step) {
  AxisOffsets axes = identity_axes(x.shape());
  const int64_t stride = contiguous_strides(x.shape())[static_cast<size_t>(axis)];
  axes[static_cast<size_t>(axis)] = axis_range(count, start, step, stride);
  return axes;
}

std::vector<Tensor> concat(const OpContext& ctx) {
  const Tensor& first = ctx.input(0);
  if (ctx.opset() >= 4 && !ctx.has_attr("axis")) throw_bad_input("{} attribute axis is required", ctx.where());
  std::vector<DimVec> dims;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& x = ctx.input(i);
    if (x.dtype() != first.dtype()) {
      throw_bad_input("{} input {} is {}, input 0 is {}", ctx.where(), i, ir::dtype_name(x.dtype()), ir::dtype_name(first.dtype()));
    }
    dims.push_back(dims_of(x.shape()));
  }
  std::vector<const DimVec*> ptrs;
  for (const DimVec& d : dims) ptrs.push_back(&d);
  const std::vector<int64_t> shape = dim_values(ctx, concat_dims(ctx, ptrs, ctx.attr_int("axis", 1)));
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), first.rank());
  MoveTarget out(first.dtype(), shape, ctx.where());
  std::vector<int64_t> origin(shape.size(), 0);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& x = ctx.input(i);
    gather_axes_into(ctx.pool(), x, identity_axes(x.shape()), x.shape(), out, origin);
    origin[static_cast<size_t>(axis)] += x.shape()[static_cast<size_t>(axis)];
  }
  return {out.finish()};
}

std::vector<Tensor> split(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), x.rank());
  const std::vector<int64_t> sizes = split_sizes(ctx, x.shape()[static_cast<size_t>(axis)]);
  std::vector<Tensor> outs;
  int64_t start = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<int64_t> shape = x.shape();
    shape[static_cast<size_t>(axis)] = sizes[i];
    outs.push_back(ctx.output_requested(i) ? gather_axes(ctx.pool(), x, shape, axes_with_range(x, axis, sizes[i], start, 1), ctx.where())
                                           : Tensor());
    start += sizes[i];
  }
  return outs;
}

std::vector<Tensor> slice(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> shape = x.shape();
  AxisOffsets tables = identity_axes(x.shape());
  const std::vector<int64_t> strides = contiguous_strides(x.shape());
  for (const SliceAxis& s : slice_args(ctx, x.rank())) {
    const auto [first, count] = slice_range(x.shape()[s.axis], s);
    shape[s.axis] = count;
    tables[s.axis] = axis_range(count, first, s.step, strides[s.axis]);
  }
  return {gather_axes(ctx.pool(), x, shape, tables, ctx.where())};
}

std::vector<Tensor> pad(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto [mode, amounts] = pad_args(ctx, x.rank());
  const std::vector<int64_t> shape = dim_values(ctx, pad_dims(ctx, dims_of(x.shape()), amounts, mode));
  const auto rank = static_cast<size_t>(x.rank());
  std::vector<int64_t> begin(rank);
  for (size_t d = 0; d < rank; ++d) begin[d] = amounts[d].first;
  const std::vector<int64_t> strides = contiguous_strides(x.shape());
  if (mode != "constant") {
    AxisOffsets tables(rank);
    for (size_t d = 0; d < rank; ++d) {
      for (int64_t o = 0; o < shape[d]; ++o) tables[d].push_back(pad_source(mode, o - begin[d], x.shape()[d]) * strides[d]);
    }
    return {gather_axes(ctx.pool(), x, shape, tables, ctx.where())};
  }
  MoveTarget out(x.dtype(), shape, ctx.where());
  if (ctx.opset() >= 11 && ctx.has_input(2) && ctx.input(2).numel() > 0) {
    if (ctx.input(2).dtype() != x.dtype()) throw_bad_input("{} constant_value type differs from the data's", ctx.where());
    out.fill(ElementSource(ctx.input(2)), 0);
  } else if (ctx.opset() < 11 && ctx.attr_float("value", 0.0f) != 0.0f) {
    const double v = ctx.attr_float("value", 0.0f);
    Tensor value = dispatch_numeric(x.dtype(), ctx.where(), [&](auto t) {
      using T = decltype(t);
      Tensor s(x.dtype(), {});
      s.mutable_values<T>()[0] = static_cast<T>(v);
      return s;
    });
    out.fill(ElementSource(value), 0);
  }
  // Copy the input into the box of the output it still covers (negative pads crop).
  std::vector<int64_t> origin(rank), box(rank);
  AxisOffsets tables(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t lo = std::max<int64_t>(0, begin[d]), hi = std::min(shape[d], begin[d] + x.shape()[d]);
    origin[d] = lo;
    box[d] = std::max<int64_t>(0, hi - lo);
    tables[d] = axis_range(box[d], lo - begin[d], 1, strides[d]);
  }
  gather_axes_into(ctx.pool(), x, tables, box, out, origin);
  return {out.finish()};
}

std::vector<Tensor> compress(const OpContext& ctx) {
  const Tensor& x0 = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  if (cond.rank() != 1) throw_bad_input("{} condition must be 1-D, got {}", ctx.where(), ir::shape_to_string(cond.shape()));
  const bool flat = !ctx.has_attr("axis");
  const Tensor x = flat ? reshape_view(x0, {x0.numel()}) : x0;
  const int64_t axis = flat ? 0 : normalize_axis(ctx, ctx.attr_int("axis", 0), x.rank());
  const int64_t dim = x.shape()[static_cast<size_t>(axis)];
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (cond.element_as_double(i) == 0) continue;
    if (i >= dim) throw_bad_input("{} condition selects index {} beyond the axis size {}", ctx.where(), i, dim);
    picked.push_back(i);
  }
  std::vector<int64_t> shape = x.shape();
  shape[static_cast<size_t>(axis)] = static_cast<int64_t>(picked.size());
  AxisOffsets tables = identity_axes(x.shape());
  const int64_t stride = contiguous_strides(x.shape())[static_cast<size_t>(axis)];
  for (int64_t& p : picked) p *= stride;
  tables[static_cast<size_t>(axis)] = std::move(picked);
  return {gather_axes(ctx.pool(), x, shape, tables, ctx.where())};
}

std::vector<Tensor> trilu(const OpContext& ctx) {
  const int64_t k = ctx.has_input(1) ? int_scalar(ctx, ctx.input(1), "k") : 0;
  return {trilu_cpu(ctx.pool(), ctx.input(0), k, ctx.attr_int("upper", 1) != 0, ctx.where())};
}

}  // namespace

std::vector<int64_t> split_sizes(const OpContext& ctx, int64_t dim) {
  std::vector<int64_t> sizes;
  if (ctx.opset() < 13) sizes = ctx.attr_ints("split");
  if ((ctx.opset() >= 13 || (ctx.opset() == 1 && sizes.empty())) && ctx.has_input(1)) {
    sizes = int_values(ctx, ctx.input(1), "split");
  }
  return dim_values(ctx, split_dims(ctx, ir::Dim::of(dim), std::move(sizes)));
}

std::vector<SliceAxis> slice_args(const OpContext& ctx, int64_t rank) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    axes = ctx.attr_ints("axes");
  } else {
    starts = int_values(ctx, ctx.input(1), "starts");
    ends = int_values(ctx, ctx.input(2), "ends");
    if (ctx.has_input(3)) axes = int_values(ctx, ctx.input(3), "axes");
    if (ctx.has_input(4)) steps = int_values(ctx, ctx.input(4), "steps");
  }
  return slice_axes(ctx, starts, ends, std::move(axes), std::move(steps), rank);
}

PadArgs pad_args(const OpContext& ctx, int64_t rank) {
  PadArgs a;
  a.mode = ctx.attr_string("mode", "constant");
  if (a.mode != "constant" && a.mode != "reflect" && a.mode != "edge" && a.mode != "wrap") {
    throw_bad_input("{} unknown mode '{}' (expected constant, reflect, edge or wrap)", ctx.where(), a.mode);
  }
  std::vector<int64_t> pads = ctx.opset() >= 11 ? int_values(ctx, ctx.input(1), "pads")
                                                : ctx.attr_ints(ctx.opset() == 1 ? "paddings" : "pads");
  std::optional<std::vector<int64_t>> axes;
  if (ctx.opset() >= 18 && ctx.has_input(3)) axes = int_values(ctx, ctx.input(3), "axes");
  a.amounts = pad_amounts(ctx, pads, axes, rank);
  return a;
}

int64_t pad_source(const std::string& mode, int64_t i, int64_t n) {
  if (mode == "edge") return std::clamp<int64_t>(i, 0, n - 1);
  if (mode == "wrap") return ((i % n) + n) % n;
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  const int64_t m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

DimVec concat_dims(const NodeAttrs& ctx, const std::vector<const DimVec*>& inputs, int64_t axis) {
  const DimVec& first = *inputs.at(0);
  if (first.empty()) throw_bad_input("{} cannot concatenate scalars", ctx.where());
  const auto a = static_cast<size_t>(normalize_axis(ctx, axis, static_cast<int64_t>(first.size())));
  DimVec out = first;
  std::optional<int64_t> total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const DimVec& x = *inputs[i];
    bool same = x.size() == first.size();
    for (size_t d = 0; same && d < x.size(); ++d) {
      if (d == a) continue;
      const ir::Dim& o = out[d];
      if (o.value && x[d].value) same = *o.value == *x[d].value;
      else if (x[d].value) out[d] = x[d];  // a known size wins over a symbolic one
      else if (!o.value && o.param != x[d].param) out[d] = ir::Dim{};
    }
    if (!same) throw_bad_input("{} input {} {} does not match input 0 {}", ctx.where(), i, dims_to_string(x), dims_to_string(first));
    total = total && x[a].value ? std::optional<int64_t>(*total + *x[a].value) : std::nullopt;
  }
  out[a] = inputs.size() == 1 ? first[a] : total ? ir::Dim::of(*total) : ir::Dim{};
  return out;
}

DimVec split_dims(const NodeAttrs& ctx, const ir::Dim& dim, std::vector<int64_t> sizes) {
  const int64_t n = ctx.opset() >= 18 && ctx.has_attr("num_outputs") ? ctx.attr_int("num_outputs", 1)
                                                                       : static_cast<int64_t>(ctx.num_outputs());
  if (sizes.empty()) {
    if (n < 1) throw_bad_input("{} needs at least one output", ctx.where());
    if (!dim.value) {
      if (static_cast<size_t>(n) != ctx.num_outputs()) {
        throw_bad_input("{} splits into {} parts but the node has {} outputs", ctx.where(), n, ctx.num_outputs());
      }
      return n == 1 ? DimVec{dim} : DimVec(static_cast<size_t>(n));
    }
    // Equal parts; when uneven, every part but the last rounds up (opset 18's rule).
    const int64_t part = (*dim.value + n - 1) / n;
    sizes.assign(static_cast<size_t>(n), part);
    sizes.back() = *dim.value - part * (n - 1);
    if (sizes.back() < 0) throw_bad_input("{} cannot split a dimension of {} into {} parts", ctx.where(), *dim.value, n);
  }
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw_bad_input("{} split sizes must not be negative", ctx.where());
    total += s;
  }
  if ((dim.value && total != *dim.value) || sizes.size() != ctx.num_outputs()) {
    throw_bad_input("{} split sizes sum to {} over {} parts, the axis has {} and the node {} outputs", ctx.where(), total,
                    sizes.size(), dims_to_string({dim}), ctx.num_outputs());
  }
  return dims_of(sizes);
}

std::vector<SliceAxis> slice_axes(const NodeAttrs& ctx, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                                  std::vector<int64_t> axes, std::vector<int64_t> steps, int64_t rank) {
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    throw_bad_input("{} starts, ends, axes and steps differ in length", ctx.where());
  }
  std::vector<SliceAxis> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < starts.size(); ++i) {
    const auto a = static_cast<size_t>(normalize_axis(ctx, axes[i], rank));
    if (seen[a]) throw_bad_input("{} axis {} is repeated", ctx.where(), axes[i]);
    seen[a] = true;
    if (steps[i] == 0) throw_bad_input("{} steps must not be zero", ctx.where());
    out.push_back({a, starts[i], ends[i], steps[i]});
  }
  return out;
}

std::pair<int64_t, int64_t> slice_range(int64_t dim, const SliceAxis& sa) {
  if (dim == 0) return {0, 0};
  int64_t s = sa.start < 0 ? sa.start + dim : sa.start;
  int64_t e = sa.end < 0 ? sa.end + dim : sa.end;
  // Counts divide in unsigned arithmetic: steps may be as large as INT64_MAX or as small as INT64_MIN.
  int64_t count = 0;
  if (sa.step > 0) {
    s = std::clamp<int64_t>(s, 0, dim);
    e = std::clamp<int64_t>(e, 0, dim);
    if (e > s) count = static_cast<int64_t>(static_cast<uint64_t>(e - s - 1) / static_cast<uint64_t>(sa.step)) + 1;
  } else {
    s = std::clamp<int64_t>(s, 0, dim - 1);
    e = std::clamp<int64_t>(e, -1, dim - 1);
    if (s > e) count = static_cast<int64_t>(static_cast<uint64_t>(s - e - 1) / (static_cast<uint64_t>(-(sa.step + 1)) + 1)) + 1;
  }
  return {s, count};
}

ir::Dim slice_dim(const ir::Dim& dim, const SliceAxis& s) {
  if (dim.value) return ir::Dim::of(slice_range(*dim.value, s).second);
  // The whole axis, whatever its size: [0 or INT64_MIN, INT64_MAX) by 1.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  if (s.step == 1 && (s.start == 0 || s.start == kMin) && s.end == kMax) return dim;
  return ir::Dim{};
}

std::vector<std::pair<int64_t, int64_t>> pad_amounts(const NodeAttrs& ctx, const std::vector<int64_t>& pads,
                                                     const std::optional<std::vector<int64_t>>& axes, int64_t rank) {
  std::vector<int64_t> all;
  if (!axes) {
    for (int64_t d = 0; d < rank; ++d) all.push_back(d);
  }
  const std::vector<int64_t>& ax = axes ? *axes : all;
  if (pads.size() != 2 * ax.size()) throw_bad_input("{} pads has {} entries for {} axes", ctx.where(), pads.size(), ax.size());
  std::vector<std::pair<int64_t, int64_t>> out(static_cast<size_t>(rank), {0, 0});
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < ax.size(); ++i) {
    const auto a = static_cast<size_t>(normalize_axis(ctx, ax[i], rank));
    if (seen[a]) throw_bad_input("{} axis {} is repeated", ctx.where(), ax[i]);
    seen[a] = true;
    out[a] = {pads[i], pads[i + ax.size()]};
  }
  return out;
}

DimVec pad_dims(const NodeAttrs& ctx, const DimVec& in, const std::vector<std::pair<int64_t, int64_t>>& amounts,
                const std::string& mode) {
  DimVec out = in;
  for (size_t d = 0; d < in.size(); ++d) {
    const auto [before, after] = amounts[d];
    if (before == 0 && after == 0) continue;
    if (!in[d].value) {
      out[d] = ir::Dim{};
      continue;
    }
    const int64_t n = *in[d].value + before + after;
    if (n < 0) throw_bad_input("{} pads ({}, {}) crop more than axis {} of size {} holds", ctx.where(), before, after, d, *in[d].value);
    if (mode != "constant" && *in[d].value == 0 && n > 0) throw_bad_input("{} cannot {}-pad an empty axis", ctx.where(), mode);
    out[d] = ir::Dim::of(n);
  }
  return out;
}

void register_tensor_slice_ops(OpRegistry& r) {
  r.add("Concat", 1, kLatestOpset, concat);
  r.add("Split", 1, kLatestOpset, split);
  r.add("Slice", 1, kLatestOpset, slice);
  r.add("Pad", 1, kLatestOpset, pad);
  r.add("Compress", 9, kLatestOpset, compress);
  r.add("Trilu", 14, kLatestOpset, trilu);
}

}  // namespace scalec::kernels
