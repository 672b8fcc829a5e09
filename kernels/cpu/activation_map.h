#pragma once
// Elementwise maps over the float types of the activation family: float and double directly,
// float16 and bfloat16 by computing in float and rounding the result back (round half to even).
#include <cstdint>
#include <string>

#include "ir/error.h"
#include "ir/tensor.h"
#include "kernels/common/quantize_math.h"
#include "kernels/cpu/elementwise.h"

namespace scalec::kernels {

/// The same bytes and shape, relabelled as `dtype` (16-bit floats computed as uint16 bit patterns).
inline ir::Tensor relabel(ir::DType dtype, const ir::Tensor& t) { return ir::Tensor(dtype, t.shape(), t.storage()); }

/// True for float16 and bfloat16, which the kernels store as uint16 bit patterns.
inline bool is_half_type(ir::DType t) { return t == ir::DType::kFloat16 || t == ir::DType::kBFloat16; }

/// y = op(x) for float, double, float16 and bfloat16; `op` is generic over float and double.
template <typename Op>
ir::Tensor map_float(ThreadPool& pool, const ir::Tensor& x, const std::string& where, Op op) {
  using ir::DType;
  switch (x.dtype()) {
    case DType::kFloat: return unary_map<float, float>(pool, x, [&](float v) { return op(v); });
    case DType::kDouble: return unary_map<double, double>(pool, x, [&](double v) { return op(v); });
    case DType::kFloat16:
      return relabel(DType::kFloat16, unary_map<uint16_t, uint16_t>(pool, x, [&](uint16_t h) {
                       return float_to_half(static_cast<float>(op(half_to_float(h))));
                     }));
    case DType::kBFloat16:
      return relabel(DType::kBFloat16, unary_map<uint16_t, uint16_t>(pool, x, [&](uint16_t h) {
                       return float_to_bfloat16(static_cast<float>(op(bfloat16_to_float(h))));
                     }));
    default: throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
  }
}

/// Bool y = pred(x) for float, double, float16 and bfloat16 (16-bit types decoded to float).
template <typename Pred>
ir::Tensor test_float(ThreadPool& pool, const ir::Tensor& x, const std::string& where, Pred pred) {
  using ir::DType;
  switch (x.dtype()) {
    case DType::kFloat: return unary_map<bool, float>(pool, x, [&](float v) { return pred(v); });
    case DType::kDouble: return unary_map<bool, double>(pool, x, [&](double v) { return pred(v); });
    case DType::kFloat16:
      return unary_map<bool, uint16_t>(pool, x, [&](uint16_t h) { return pred(half_to_float(h)); });
    case DType::kBFloat16:
      return unary_map<bool, uint16_t>(pool, x, [&](uint16_t h) { return pred(bfloat16_to_float(h)); });
    default: throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
  }
}

}  // namespace scalec::kernels
