#include "kernels/cpu/quant_matmul.h"

#include <algorithm>

#include "ir/error.h"
#include "kernels/common/quantize_math.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/quant_gemm.h"
#include "kernels/cpu/quant_linear.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

void check_8bit(const Tensor& t, const char* name, const std::string& where) {
  if (t.dtype() != DType::kInt8 && t.dtype() != DType::kUInt8) {
    throw_bad_input("{} input {} must be int8 or uint8, got {}", where, name, ir::dtype_name(t.dtype()));
  }
}

// The values of `p` (read once) laid out over `target` by numpy broadcasting of `shape`, the shape
// p is read with; throws when it does not broadcast to exactly `target`.
template <typename T>
std::vector<T> expand_param(const Tensor& p, const std::vector<int64_t>& shape, const std::vector<int64_t>& target,
                            const char* name, const std::string& where) {
  bool fits = shape.size() <= target.size();
  for (size_t j = 0; fits && j < shape.size(); ++j) {
    const int64_t t = target[target.size() - shape.size() + j];
    fits = shape[j] == 1 || shape[j] == t;
  }
  if (!fits) {
    throw_bad_input("{} {} has shape {} which does not fit {}", where, name, ir::shape_to_string(p.shape()),
                    ir::shape_to_string(target));
  }
  std::vector<T> src(static_cast<size_t>(p.numel()));
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<T>(p.element_as_double(static_cast<int64_t>(i)));
  std::vector<T> out(static_cast<size_t>(shape_numel(target)));
  const std::vector<int64_t> strides[1] = {broadcast_strides(shape, target)};
  for_each_broadcast<1>(target, strides, 0, static_cast<int64_t>(out.size()), [&](int64_t i, const int64_t* off) {
    out[static_cast<size_t>(i)] = src[static_cast<size_t>(off[0])];
  });
  return out;
}

// How a parameter of A (per row) or of B (per column) is read: a scalar, an M-vector as [M, 1].
std::vector<int64_t> row_param_shape(const Tensor& p, int64_t m) {
  if (p.numel() == 1) return {};
  if (p.rank() == 1 && p.shape()[0] == m) return {m, 1};
  return p.shape();
}
std::vector<int64_t> col_param_shape(const Tensor& p) { return p.numel() == 1 ? std::vector<int64_t>{} : p.shape(); }

std::vector<int64_t> with_dim(std::vector<int64_t> s, size_t from_back, int64_t v) {
  s[s.size() - from_back] = v;
  return s;
}

// An integer matrix product with its shapes: operands widened to >= 2-D, batch dims broadcast.
struct IntProduct {
  std::vector<int64_t> a_shape, b_shape, out_batch, out_shape;
  int64_t m = 0, k = 0, n = 0, batches = 1;
  std::vector<int64_t> a_index, b_index;  // per output batch, the operand batch it reads
  std::vector<int32_t> acc;               // [batches, m, n]
  std::vector<int64_t> full_out_shape() const {
    std::vector<int64_t> s = out_batch;
    s.push_back(m);
    s.push_back(n);
    return s;
  }
};

IntProduct plan_product(const Tensor& a, const Tensor& b, const std::string& where) {
  if (a.rank() == 0 || b.rank() == 0) throw_bad_input("{} inputs must have rank >= 1", where);
  IntProduct p;
  p.a_shape = a.shape();
  p.b_shape = b.shape();
  if (a.rank() == 1) p.a_shape.insert(p.a_shape.begin(), 1);
  if (b.rank() == 1) p.b_shape.push_back(1);
  p.m = p.a_shape[p.a_shape.size() - 2];
  p.k = p.a_shape.back();
  p.n = p.b_shape.back();
  if (p.b_shape[p.b_shape.size() - 2] != p.k) {
    throw_bad_input("{} shapes {} and {} do not multiply", where, ir::shape_to_string(a.shape()),
                    ir::shape_to_string(b.shape()));
  }
  const std::vector<int64_t> a_batch(p.a_shape.begin(), p.a_shape.end() - 2);
  const std::vector<int64_t> b_batch(p.b_shape.begin(), p.b_shape.end() - 2);
  p.out_batch = broadcast_shape({a_batch, b_batch}, where);
  p.batches = shape_numel(p.out_batch);
  const std::vector<int64_t> strides[2] = {broadcast_strides(a_batch, p.out_batch),
                                           broadcast_strides(b_batch, p.out_batch)};
  for_each_broadcast<2>(p.out_batch, strides, 0, p.batches, [&](int64_t, const int64_t* off) {
    p.a_index.push_back(off[0]);
    p.b_index.push_back(off[1]);
  });
  p.out_shape = p.out_batch;
  if (a.rank() > 1) p.out_shape.push_back(p.m);
  if (b.rank() > 1) p.out_shape.push_back(p.n);
  return p;
}

// x - zero_point as int16 (|v| <= 255), with the zero point broadcast over x's (widened) shape.
std::vector<int16_t> centered(const Tensor& x, const std::vector<int64_t>& shape, const Tensor* zp,
                              const std::vector<int64_t>& zp_shape, const char* name, const std::string& where) {
  std::vector<int16_t> out(static_cast<size_t>(x.numel()));
  const std::byte* px = x.bytes().data();
  const bool is_signed = x.dtype() == DType::kInt8;
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = is_signed ? static_cast<int16_t>(reinterpret_cast<const int8_t*>(px)[i])
                       : static_cast<int16_t>(reinterpret_cast<const uint8_t*>(px)[i]);
  }
  if (zp == nullptr) return out;
  if (zp->dtype() != x.dtype()) {
    throw_bad_input("{} {} type {} differs from its input's type {}", where, name, ir::dtype_name(zp->dtype()),
                    ir::dtype_name(x.dtype()));
  }
  const std::vector<int16_t> z = expand_param<int16_t>(*zp, zp_shape, shape, name, where);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int16_t>(out[i] - z[i]);
  return out;
}

// p.acc = (a - a_zero_point) x (b - b_zero_point), batch by batch.
void centered_product(ThreadPool& pool, IntProduct& p, const Tensor& a, const Tensor& b, const Tensor* a_zero_point,
                      const Tensor* b_zero_point, const std::string& where) {
  const std::vector<int16_t> ac =
      centered(a, p.a_shape, a_zero_point, a_zero_point ? row_param_shape(*a_zero_point, p.m) : std::vector<int64_t>{},
               "a_zero_point", where);
  const std::vector<int16_t> bc =
      centered(b, p.b_shape, b_zero_point, b_zero_point ? col_param_shape(*b_zero_point) : std::vector<int64_t>{},
               "b_zero_point", where);
  std::vector<int16_t> bt(bc.size());  // each batch of b transposed to [n, k]
  for (size_t t = 0; t < bc.size() / static_cast<size_t>(std::max<int64_t>(1, p.k * p.n)); ++t) {
    const int16_t* src = bc.data() + static_cast<int64_t>(t) * p.k * p.n;
    int16_t* dst = bt.data() + static_cast<int64_t>(t) * p.k * p.n;
    for (int64_t r = 0; r < p.k; ++r)
      for (int64_t c = 0; c < p.n; ++c) dst[c * p.k + r] = src[r * p.n + c];
  }
  p.acc.assign(static_cast<size_t>(p.batches * p.m * p.n), 0);
  const int64_t rows = p.batches * p.m;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.k * p.n));
  pool.parallel_for(rows, grain, [&](int64_t lo, int64_t hi) {
    while (lo < hi) {  // split the row range at batch boundaries
      const int64_t t = lo / p.m, r0 = lo % p.m;
      const int64_t r1 = std::min(p.m, r0 + (hi - lo));
      qgemm_s16(ac.data() + (p.a_index[static_cast<size_t>(t)] * p.m + r0) * p.k,
                bt.data() + p.b_index[static_cast<size_t>(t)] * p.k * p.n, p.acc.data() + (t * p.m + r0) * p.n, r1 - r0,
                p.n, p.k, p.n);
      lo += r1 - r0;
    }
  });
}

// Rounds v to the precision of `t` (float, float16 or bfloat16), as the ONNX formulas compute scales.
float in_precision(double v, DType t) {
  switch (t) {
    case DType::kFloat16:
      return half_to_float(float_to_half(static_cast<float>(v)));
    case DType::kBFloat16:
      return bfloat16_to_float(float_to_bfloat16(static_cast<float>(v)));
    default:
      return static_cast<float>(v);
  }
}

}  // namespace

Tensor matmul_integer_forward_cpu(ThreadPool& pool, const Tensor& a, const Tensor& b, const Tensor* a_zero_point,
                                  const Tensor* b_zero_point, const std::string& where) {
  check_8bit(a, "A", where);
  check_8bit(b, "B", where);
  IntProduct p = plan_product(a, b, where);
  centered_product(pool, p, a, b, a_zero_point, b_zero_point, where);
  Tensor y(DType::kInt32, p.out_shape);
  std::copy(p.acc.begin(), p.acc.end(), y.mutable_values<int32_t>().begin());
  return y;
}

Tensor qlinear_matmul_forward_cpu(ThreadPool& pool, const Tensor& a, const Tensor& a_scale, const Tensor* a_zero_point,
                                  const Tensor& b, const Tensor& b_scale, const Tensor* b_zero_point,
                                  const Tensor& y_scale, const Tensor* y_zero_point, const std::string& where) {
  check_8bit(a, "a", where);
  check_8bit(b, "b", where);
  if (a_scale.dtype() != b_scale.dtype() || a_scale.dtype() != y_scale.dtype()) {
    throw_bad_input("{} scales must share one type, got {}, {} and {}", where, ir::dtype_name(a_scale.dtype()),
                    ir::dtype_name(b_scale.dtype()), ir::dtype_name(y_scale.dtype()));
  }
  quant_scale_values(a_scale, where);  // checks the scale type
  const DType out_type = y_zero_point ? y_zero_point->dtype() : a.dtype();
  if (out_type != DType::kInt8 && out_type != DType::kUInt8) {
    throw_bad_input("{} y_zero_point must be int8 or uint8, got {}", where, ir::dtype_name(out_type));
  }
  IntProduct p = plan_product(a, b, where);
  centered_product(pool, p, a, b, a_zero_point, b_zero_point, where);

  // Scales over [batch_a, m] and [batch_b, n]; y's scale and zero point over the whole output.
  const auto as =
      expand_param<double>(a_scale, row_param_shape(a_scale, p.m), with_dim(p.a_shape, 1, 1), "a_scale", where);
  const auto bs = expand_param<double>(b_scale, col_param_shape(b_scale), with_dim(p.b_shape, 2, 1), "b_scale", where);
  const std::vector<int64_t> full = p.full_out_shape();
  const auto ys = expand_param<double>(y_scale, col_param_shape(y_scale), full, "y_scale", where);
  const std::vector<int64_t> yz =
      y_zero_point ? expand_param<int64_t>(*y_zero_point, col_param_shape(*y_zero_point), full, "y_zero_point", where)
                   : std::vector<int64_t>(ys.size(), 0);
  const auto range = quant_range(out_type);  // not a structured binding: clang 14 cannot capture those
  const int64_t lo = range.first, hi = range.second;
  const DType st = a_scale.dtype();
  Tensor y(out_type, p.out_shape);
  std::byte* py = y.mutable_bytes().data();
  pool.parallel_for(
      p.batches * p.m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.n)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t t = r / p.m, row = r % p.m;
          const double sa = as[static_cast<size_t>(p.a_index[static_cast<size_t>(t)] * p.m + row)];
          const double* sb = bs.data() + p.b_index[static_cast<size_t>(t)] * p.n;
          for (int64_t col = 0; col < p.n; ++col) {
            const int64_t i = r * p.n + col;
            const float mult = in_precision(in_precision(sa * sb[col], st) / ys[static_cast<size_t>(i)], st);
            // The product in float, as ONNX Runtime requantizes (MLAS): in double a value one float
            // ulp from a .5 tie rounded the other way (1 of 3,600 lenet_digits logits, one level).
            const int64_t q = quantize_scaled(static_cast<float>(p.acc[static_cast<size_t>(i)]) * mult,
                                              yz[static_cast<size_t>(i)], lo, hi);
            if (out_type == DType::kInt8)
              reinterpret_cast<int8_t*>(py)[i] = static_cast<int8_t>(q);
            else
              reinterpret_cast<uint8_t*>(py)[i] = static_cast<uint8_t>(q);
          }
        }
      });
  return y;
}

}  // namespace scalec::kernels
