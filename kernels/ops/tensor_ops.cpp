// Tensor (data movement and shape) ops, opsets 1-22. This file: Identity (1+), Dropout (1+;
// training_mode at 12+), Constant (1+), ConstantOfShape (9+), Shape (1+; start/end at 15+),
// Size (1+), Range (11+), EyeLike (9+); the rest of the family is registered from
// tensor_shape_ops.cpp, tensor_slice_ops.cpp and tensor_index_ops.cpp.
#include <algorithm>
#include <cstring>

#include "ir/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/tensor_copy.h"
#include "kernels/cpu/tensor_fill.h"
#include "kernels/ops/tensor_ops_internal.h"

namespace scalec::kernels {

using ir::DType;
using ir::Tensor;

std::vector<int64_t> int_values(const NodeAttrs& ctx, const Tensor& t, const char* what) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  dispatch_numeric(t.dtype(), ctx.where(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, bool>) {
      throw_bad_input("{} {} must be integers, got {}", ctx.where(), what, ir::dtype_name(t.dtype()));
    } else {
      const T* p = t.values<T>().data();
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(p[i]);
    }
  });
  return out;
}

int64_t int_scalar(const NodeAttrs& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1) throw_bad_input("{} {} must hold one value, has {}", ctx.where(), what, t.numel());
  return int_values(ctx, t, what)[0];
}

std::vector<int64_t> axes_attr_or_input(const OpContext& ctx, int64_t input_since, size_t input_index) {
  if (ctx.opset() < input_since) return ctx.attr_ints("axes");
  if (!ctx.has_input(input_index)) return {};
  return int_values(ctx, ctx.input(input_index), "axes");
}

DimVec dims_of(const std::vector<int64_t>& shape) {
  DimVec dims;
  dims.reserve(shape.size());
  for (int64_t d : shape) dims.push_back(ir::Dim::of(d));
  return dims;
}

std::string dims_to_string(const DimVec& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += dims[i].value ? std::to_string(*dims[i].value) : (dims[i].param.empty() ? "?" : dims[i].param);
  }
  return s + "]";
}

std::vector<int64_t> dim_values(const NodeAttrs& ctx, const DimVec& dims) {
  std::vector<int64_t> out;
  out.reserve(dims.size());
  for (const ir::Dim& d : dims) {
    if (!d.value) throw_internal("{} a computed dimension is not known", ctx.where());
    out.push_back(*d.value);
  }
  return out;
}

std::pair<int64_t, int64_t> shape_range(const NodeAttrs& ctx, int64_t rank) {
  auto clamp_index = [rank](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
  if (ctx.opset() < 15) return {0, rank};
  const int64_t start = clamp_index(ctx.attr_int("start", 0));
  const int64_t end = ctx.has_attr("end") ? clamp_index(ctx.attr_int("end", rank)) : rank;
  return {start, std::max(start, end)};
}

namespace {

// A tensor holding `v`. Unlike Tensor::from_int64s / from_floats, safe for empty `v` (those pass a
// null pointer to memcpy then, which UBSan rejects).
template <typename T>
Tensor tensor_of(std::vector<int64_t> shape, const std::vector<T>& v) {
  Tensor t(dtype_of<T>(), std::move(shape));
  std::copy(v.begin(), v.end(), t.mutable_values<T>().begin());
  return t;
}

Tensor bool_ones(const std::vector<int64_t>& shape) {
  Tensor t(DType::kBool, shape);
  auto b = t.mutable_bytes();
  if (!b.empty()) std::memset(b.data(), 1, b.size());
  return t;
}

// FNV-1a of the node name mixed into the run's seed: each Dropout of a training step draws its own mask.
uint32_t dropout_seed(const OpContext& ctx) {
  uint64_t h = 1469598103934665603ull ^ ctx.mode().seed;
  for (char c : ctx.node().name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

std::vector<Tensor> dropout(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const DropoutPlan plan = dropout_plan(ctx);
  if (plan.drops) {
    auto [y, mask] = dropout_train_cpu(x, plan.ratio, plan.seed, ctx.where());
    return {y, mask};
  }
  if (!ctx.output_requested(1)) return {x, Tensor()};
  if (ctx.opset() >= 10) return {x, bool_ones(x.shape())};
  // Opsets 1-9: the mask has the data's type.
  Tensor one = Tensor(x.dtype(), {});
  std::vector<std::byte> b = one_bytes(x.dtype(), ctx.where());
  std::memcpy(one.mutable_bytes().data(), b.data(), b.size());
  return {x, filled_like(one, x.shape(), ctx.where())};
}


Tensor constant_of_shape(const OpContext& ctx) {
  std::vector<int64_t> shape = int_values(ctx, ctx.input(0), "shape");
  for (int64_t d : shape) {
    if (d < 0) throw_bad_input("{} shape {} has a negative dimension", ctx.where(), ir::shape_to_string(shape));
  }
  const Tensor* value = ctx.attr_tensor("value");
  if (value == nullptr) return Tensor(DType::kFloat, shape);
  if (value->numel() != 1) throw_bad_input("{} value must hold one element, has {}", ctx.where(), value->numel());
  return filled_like(*value, shape, ctx.where());
}

Tensor shape_of(const OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto [start, end] = shape_range(ctx, x.rank());
  const int64_t n = end - start;
  std::vector<int64_t> dims(x.shape().begin() + start, x.shape().begin() + start + n);
  return tensor_of({n}, dims);
}

}  // namespace

// Dropout: inference copies; training (opset 12+, training_mode true) drops with the seed attribute;
// a training run (RunMode) always drops, with a seed from the run's seed and the node.
DropoutPlan dropout_plan(const OpContext& ctx) {
  bool training = false;
  double ratio = ctx.attr_float("ratio", 0.5f);
  if (ctx.opset() >= 12) {
    ratio = ctx.has_input(1) ? ctx.input(1).element_as_double(0) : 0.5;
    training = ctx.has_input(2) && ctx.input(2).element_as_double(0) != 0;
  }
  if (ctx.mode().training && ratio > 0) return {ratio, true, dropout_seed(ctx)};
  if (training && ratio > 0) return {ratio, true, static_cast<uint32_t>(ctx.attr_int("seed", 0))};
  return {ratio, false, 0};
}

// Constant: exactly one of value, value_float(s), value_int(s), value_string(s) (sparse_value is refused).
Tensor constant_value(const NodeAttrs& ctx) {
  if (const Tensor* t = ctx.attr_tensor("value")) return *t;
  const ir::Node& n = ctx.node();
  if (const ir::Attribute* a = n.attribute("value_float")) return tensor_of<float>({}, {a->f});
  if (const ir::Attribute* a = n.attribute("value_floats")) return tensor_of({static_cast<int64_t>(a->floats.size())}, a->floats);
  if (const ir::Attribute* a = n.attribute("value_int")) return tensor_of<int64_t>({}, {a->i});
  if (const ir::Attribute* a = n.attribute("value_ints")) return tensor_of({static_cast<int64_t>(a->ints.size())}, a->ints);
  if (const ir::Attribute* a = n.attribute("value_string")) return Tensor::from_strings({}, {a->s});
  if (const ir::Attribute* a = n.attribute("value_strings")) {
    return Tensor::from_strings({static_cast<int64_t>(a->strings.size())}, a->strings);
  }
  if (ctx.has_attr("sparse_value")) throw_bad_input("{} sparse_value is not supported", ctx.where());
  throw_bad_input("{} has no value attribute", ctx.where());
}

void register_tensor_ops(OpRegistry& r) {
  r.add("Identity", 1, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{ctx.input(0)}; });
  r.add("Dropout", 1, kLatestOpset, dropout);
  r.add("Constant", 1, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{constant_value(ctx)}; });
  r.add("ConstantOfShape", 9, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{constant_of_shape(ctx)}; });
  r.add("Shape", 1, kLatestOpset, [](const OpContext& ctx) { return std::vector<Tensor>{shape_of(ctx)}; });
  r.add("Size", 1, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{tensor_of<int64_t>({}, {ctx.input(0).numel()})};
  });
  r.add("Range", 11, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{range_cpu(ctx.input(0), ctx.input(1), ctx.input(2), ctx.where())};
  });
  r.add("EyeLike", 9, kLatestOpset, [](const OpContext& ctx) {
    const Tensor& x = ctx.input(0);
    DType dtype = ctx.has_attr("dtype") ? static_cast<DType>(ctx.attr_int("dtype", 1)) : x.dtype();
    return std::vector<Tensor>{eye_like_cpu(dtype, x.shape(), ctx.attr_int("k", 0), ctx.where())};
  });
  register_tensor_shape_ops(r);
  register_tensor_slice_ops(r);
  register_tensor_index_ops(r);
}

}  // namespace scalec::kernels
