#include "passes/quantize/quant_math.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "ir/error.h"
#include "ir/weight_slots.h"
#include "kernels/common/quantize_math.h"

namespace scalec::passes::quant {

namespace {

void check_bits(int bits) {
  if (bits < 2 || bits > 8) throw_bad_input("quantization bits must be in 2..8, got {}", bits);
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max<int64_t>(rank, 1)) throw_bad_input("{} axis {} is outside a rank-{} weight", what, axis, rank);
  return a;
}

}  // namespace

IntRange int_range(int bits, bool is_signed, bool symmetric) {
  check_bits(bits);
  const int64_t half = int64_t{1} << (bits - 1);
  if (is_signed) return symmetric ? IntRange{-(half - 1), half - 1} : IntRange{-half, half - 1};
  const int64_t full = (int64_t{1} << bits) - 1;
  return symmetric ? IntRange{0, full - 1} : IntRange{0, full};
}

QuantParams params_from_range(float min, float max, IntRange range, bool symmetric) {
  double lo = std::min(static_cast<double>(min), 0.0);
  double hi = std::max(static_cast<double>(max), 0.0);
  if (!std::isfinite(lo) || !std::isfinite(hi)) throw_bad_input("cannot quantize a non-finite range [{}, {}]", min, max);
  if (symmetric) {
    const double a = std::max(-lo, hi);
    lo = -a;
    hi = a;
  }
  const double dq = static_cast<double>(range.hi - range.lo);
  const auto scale = static_cast<float>((hi - lo) / dq);
  // Symmetric: the middle of the integer range (0 signed, 2^(k-1)-1 unsigned), independent of scale.
  const int64_t mid = static_cast<int64_t>(kernels::round_half_even((static_cast<double>(range.lo + range.hi)) / 2.0));
  if (!(scale >= FLT_MIN)) return {1.0f, symmetric ? mid : std::clamp<int64_t>(0, range.lo, range.hi)};
  if (symmetric) return {scale, mid};
  const double zp = kernels::round_half_even(static_cast<double>(range.lo) - lo / static_cast<double>(scale));
  return {scale, kernels::saturate_to(zp, range.lo, range.hi)};
}

int64_t quantize_value(float x, const QuantParams& p, const IntRange& range) {
  return kernels::quantize_scaled(static_cast<double>(x) / static_cast<double>(p.scale), p.zero_point, range.lo, range.hi);
}

ir::DType storage_dtype(int bits, bool is_signed) {
  check_bits(bits);
  if (bits == 4) return is_signed ? ir::DType::kInt4 : ir::DType::kUInt4;
  return is_signed ? ir::DType::kInt8 : ir::DType::kUInt8;
}

std::vector<int64_t> integer_values(const ir::Tensor& q) {
  std::vector<int64_t> out(static_cast<size_t>(q.numel()));
  for (int64_t i = 0; i < q.numel(); ++i) out[static_cast<size_t>(i)] = static_cast<int64_t>(q.element_as_double(i));
  return out;
}

QuantizedWeight quantize_weight(const ir::Tensor& w, int64_t channel_axis, int64_t reduction_axis,
                                const WeightQuantOptions& options) {
  check_bits(options.bits);
  if (w.dtype() != ir::DType::kFloat) throw_bad_input("can only quantize float32 weights, got {}", ir::dtype_name(w.dtype()));
  const std::vector<int64_t>& shape = w.shape();
  const int64_t rank = w.rank();
  QuantizedWeight out;
  std::vector<int64_t> scale_shape;
  int64_t inner = 1, dim = 1, block = 1, blocks = 1;
  switch (options.granularity) {
    case Granularity::kPerTensor:
      break;
    case Granularity::kPerChannel: {
      out.axis = normalize_axis(channel_axis, rank, "channel");
      dim = rank == 0 ? 1 : shape[static_cast<size_t>(out.axis)];
      for (int64_t a = out.axis + 1; a < rank; ++a) inner *= shape[static_cast<size_t>(a)];
      scale_shape = {dim};
      break;
    }
    case Granularity::kBlock: {
      if (options.block_size < 2) throw_bad_input("block size must be at least 2, got {}", options.block_size);
      out.axis = normalize_axis(reduction_axis, rank, "block");
      out.block_size = block = options.block_size;
      dim = shape[static_cast<size_t>(out.axis)];
      blocks = (dim + block - 1) / block;
      for (int64_t a = out.axis + 1; a < rank; ++a) inner *= shape[static_cast<size_t>(a)];
      scale_shape = shape;
      scale_shape[static_cast<size_t>(out.axis)] = blocks;
      break;
    }
  }
  int64_t groups = 1;
  for (int64_t d : scale_shape) groups *= d;
  // Element i -> the index of its scale.
  auto group_of = [&](int64_t i) -> int64_t {
    switch (options.granularity) {
      case Granularity::kPerTensor:
        return 0;
      case Granularity::kPerChannel:
        return (i / inner) % dim;
      case Granularity::kBlock:
      default: {
        const int64_t o = i / (dim * inner), d = (i / inner) % dim, in = i % inner;
        return (o * blocks + d / block) * inner + in;
      }
    }
  };
  auto x = w.values<float>();
  std::vector<float> lo(static_cast<size_t>(groups), std::numeric_limits<float>::infinity());
  std::vector<float> hi(static_cast<size_t>(groups), -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < w.numel(); ++i) {
    const auto g = static_cast<size_t>(group_of(i));
    const float v = x[static_cast<size_t>(i)];
    if (!std::isfinite(v)) throw_bad_input("weight holds a non-finite value ({}) at element {}", v, i);
    lo[g] = std::min(lo[g], v);
    hi[g] = std::max(hi[g], v);
  }
  const IntRange range = int_range(options.bits, options.is_signed, options.symmetric);
  std::vector<QuantParams> params(static_cast<size_t>(groups));
  for (size_t g = 0; g < params.size(); ++g) {
    params[g] = w.numel() == 0 ? QuantParams{} : params_from_range(lo[g], hi[g], range, options.symmetric);
  }
  std::vector<int64_t> q(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) {
    q[static_cast<size_t>(i)] = quantize_value(x[static_cast<size_t>(i)], params[static_cast<size_t>(group_of(i))], range);
  }
  const ir::DType dtype = storage_dtype(options.bits, options.is_signed);
  out.q = make_integer_tensor(dtype, shape, q);
  out.scale = ir::Tensor(ir::DType::kFloat, scale_shape);
  std::vector<int64_t> zps(params.size());
  auto scales = out.scale.mutable_values<float>();
  for (size_t g = 0; g < params.size(); ++g) {
    scales[g] = params[g].scale;
    zps[g] = params[g].zero_point;
  }
  out.zero_point = make_integer_tensor(dtype, scale_shape, zps);
  return out;
}

ir::Tensor dequantize_weight(const QuantizedWeight& qw) {
  const std::vector<int64_t>& shape = qw.q.shape();
  const int64_t rank = qw.q.rank();
  const std::vector<int64_t> q = integer_values(qw.q), zp = integer_values(qw.zero_point);
  auto scale = qw.scale.values<float>();
  int64_t inner = 1, dim = 1;
  if (qw.scale.rank() > 0) {
    dim = shape[static_cast<size_t>(qw.axis)];
    for (int64_t a = qw.axis + 1; a < rank; ++a) inner *= shape[static_cast<size_t>(a)];
  }
  const int64_t blocks = qw.block_size > 0 ? (dim + qw.block_size - 1) / qw.block_size : 0;
  ir::Tensor out(ir::DType::kFloat, shape);
  auto y = out.mutable_values<float>();
  for (int64_t i = 0; i < qw.q.numel(); ++i) {
    int64_t g = 0;
    if (qw.scale.rank() > 0 && qw.block_size == 0) g = (i / inner) % dim;
    if (qw.block_size > 0) g = (i / (dim * inner) * blocks + (i / inner) % dim / qw.block_size) * inner + i % inner;
    const auto gi = static_cast<size_t>(g);
    y[static_cast<size_t>(i)] = static_cast<float>(q[static_cast<size_t>(i)] - zp[gi]) * scale[gi];
  }
  return out;
}

WeightAxes weight_axes(const ir::Node& node, int64_t rank) {
  const std::optional<ir::WeightSlot> slot = ir::weight_slot(node, rank);
  if (!slot) throw_internal("weight_axes: {} has no known weight layout", node.op_type());
  return {slot->out_axis, slot->in_axis};
}

ir::Tensor make_integer_tensor(ir::DType dtype, std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  ir::Tensor t(dtype, std::move(shape));
  auto bytes = t.mutable_values<uint8_t>();
  if (dtype == ir::DType::kInt4 || dtype == ir::DType::kUInt4) {
    for (size_t i = 0; i < v.size(); i += 2) {
      const int high = i + 1 < v.size() ? static_cast<int>(v[i + 1]) : 0;
      bytes[i / 2] = kernels::pack_4bit(static_cast<int>(v[i]), high);
    }
  } else {
    for (size_t i = 0; i < v.size(); ++i) bytes[i] = static_cast<uint8_t>(static_cast<int8_t>(v[i]));
  }
  return t;
}

}  // namespace scalec::passes::quant
