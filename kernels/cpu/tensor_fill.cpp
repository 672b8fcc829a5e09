#include "kernels/cpu/tensor_fill.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/tensor_copy.h"

namespace scalec::kernels {

using ir::DType;
using ir::Tensor;

std::vector<std::byte> one_bytes(DType dtype, const std::string& where) {
  auto pack = [](auto v) {
    std::vector<std::byte> b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
  };
  if (dtype == DType::kFloat16) return pack(uint16_t{0x3c00});
  if (dtype == DType::kBFloat16) return pack(uint16_t{0x3f80});
  return dispatch_numeric(dtype, where, [&](auto t) { return pack(static_cast<decltype(t)>(1)); });
}

Tensor eye_like_cpu(DType dtype, const std::vector<int64_t>& shape, int64_t k, const std::string& where) {
  if (shape.size() != 2) throw_bad_input("{} input must be 2-D, got shape {}", where, ir::shape_to_string(shape));
  const std::vector<std::byte> one = one_bytes(dtype, where);
  Tensor out(dtype, shape);
  std::byte* o = out.mutable_bytes().data();
  const int64_t rows = shape[0], cols = shape[1];
  for (int64_t i = std::max<int64_t>(0, -k); i < rows && i + k < cols; ++i) {
    std::memcpy(o + (i * cols + i + k) * static_cast<int64_t>(one.size()), one.data(), one.size());
  }
  return out;
}

int64_t range_length(const Tensor& start, const Tensor& limit, const Tensor& delta, const std::string& where) {
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1) throw_bad_input("{} start, limit and delta must be scalars", where);
  if (start.dtype() != limit.dtype() || start.dtype() != delta.dtype()) throw_bad_input("{} start, limit and delta types differ", where);
  return dispatch_numeric(start.dtype(), where, [&](auto t) -> int64_t {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      throw_bad_input("{} does not support element type bool", where);
    } else {
      const T s = start.values<T>()[0], l = limit.values<T>()[0], d = delta.values<T>()[0];
      if (d == T(0)) throw_bad_input("{} delta is zero", where);
      int64_t n = 0;
      if constexpr (std::is_floating_point_v<T>) {
        const double count = std::ceil((static_cast<double>(l) - static_cast<double>(s)) / static_cast<double>(d));
        if (!(count < 9.0e15)) throw_bad_input("{} start {}, limit {}, delta {} give no finite length", where, s, l, d);
        n = static_cast<int64_t>(count);
      } else {
        // Exact ceil((l - s) / d) in unsigned arithmetic, so the difference cannot overflow.
        const bool up = d > 0;
        if (up ? l > s : l < s) {
          const uint64_t diff = up ? static_cast<uint64_t>(l) - static_cast<uint64_t>(s) : static_cast<uint64_t>(s) - static_cast<uint64_t>(l);
          const uint64_t step = up ? static_cast<uint64_t>(d) : static_cast<uint64_t>(-(d + 1)) + 1;
          n = static_cast<int64_t>(diff / step + (diff % step != 0 ? 1 : 0));
        }
      }
      return std::max<int64_t>(n, 0);
    }
  });
}

Tensor range_cpu(const Tensor& start, const Tensor& limit, const Tensor& delta, const std::string& where) {
  const int64_t n = range_length(start, limit, delta, where);
  return dispatch_numeric(start.dtype(), where, [&](auto t) {
    using T = decltype(t);
    Tensor out(start.dtype(), {n});
    if constexpr (!std::is_same_v<T, bool>) {
      const T s = start.values<T>()[0], d = delta.values<T>()[0];
      T* o = out.mutable_values<T>().data();
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(s + static_cast<T>(i) * d);
    }
    return out;
  });
}

Tensor one_hot_cpu(const Tensor& indices, int64_t depth, const Tensor& values, int64_t axis, const std::string& where) {
  if (values.numel() != 2) throw_bad_input("{} values must hold [off_value, on_value], got {} elements", where, values.numel());
  if (depth < 1) throw_bad_input("{} depth must be positive, got {}", where, depth);
  std::vector<int64_t> shape = indices.shape();
  shape.insert(shape.begin() + axis, depth);
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis); d < indices.shape().size(); ++d) inner *= indices.shape()[d];
  const int64_t outer = indices.numel() / std::max<int64_t>(inner, 1);
  MoveTarget out(values.dtype(), shape, where);
  const ElementSource src(values);
  const int64_t n = shape_numel(shape);
  for (int64_t i = 0; i < n; ++i) out.copy(i, src, 0);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const double v = indices.element_as_double(o * inner + i);
      if (!(v >= static_cast<double>(-depth) && v < static_cast<double>(depth))) continue;
      int64_t c = static_cast<int64_t>(v);
      if (c < 0) c += depth;
      out.copy((o * depth + c) * inner + i, src, 1);
    }
  }
  return out.finish();
}

Tensor trilu_cpu(ThreadPool& pool, const Tensor& x, int64_t k, bool upper, const std::string& where) {
  if (x.rank() < 2) throw_bad_input("{} input must have rank 2 or more, got shape {}", where, ir::shape_to_string(x.shape()));
  const int64_t rows = x.shape()[x.shape().size() - 2], cols = x.shape().back();
  MoveTarget out(x.dtype(), x.shape(), where);
  const ElementSource src(x);
  const int64_t matrices = x.numel() / std::max<int64_t>(rows * cols, 1);
  pool.parallel_for(matrices * rows, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(cols, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t i = r % rows;
      // Kept columns [begin, end) of row i.
      const int64_t begin = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
      const int64_t end = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
      for (int64_t j = begin; j < end; ++j) out.copy(r * cols + j, src, r * cols + j);
    }
  });
  return out.finish();
}

std::pair<Tensor, Tensor> dropout_train_cpu(const Tensor& x, double ratio, uint32_t seed, const std::string& where) {
  if (!(ratio >= 0.0 && ratio <= 1.0)) throw_bad_input("{} ratio {} is outside [0, 1]", where, ratio);
  Tensor mask(DType::kBool, x.shape());
  bool* m = mask.mutable_values<bool>().data();
  // std::mt19937 seeded with one integer equals numpy's init_genrand; uniform() uses 53 random bits.
  std::mt19937 gen(seed);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double a = static_cast<double>(gen() >> 5), b = static_cast<double>(gen() >> 6);
    m[i] = (a * 67108864.0 + b) / 9007199254740992.0 >= ratio;
  }
  Tensor y = dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T scale = ratio < 1.0 ? static_cast<T>(1.0 / (1.0 - ratio)) : T(0);
    Tensor out(x.dtype(), x.shape());
    const T* px = x.values<T>().data();
    T* po = out.mutable_values<T>().data();
    for (int64_t i = 0; i < x.numel(); ++i) po[i] = m[i] ? static_cast<T>(px[i] * scale) : T(0);
    return out;
  });
  return {y, mask};
}

}  // namespace scalec::kernels
