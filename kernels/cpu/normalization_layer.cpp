// LayerNormalization (opset 17+), InstanceNormalization (opsets 1-22) and GroupNormalization
// (opsets 18-22) on the CPU: each normalizes contiguous rows of X (the trailing axes, one (n, c)
// slice, one (n, group) slice), then applies a per-element affine map.
#include <cmath>

#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/normalization.h"
#include "kernels/cpu/normalization_common.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

using norm_detail::expand_to;
using norm_detail::moments;
using norm_detail::param_doubles;
using norm_detail::tensor_from_doubles;

namespace {

// Normalizes each row of x [rows, cols] and writes y = xhat * scale(r, j) + bias(r, j), where
// affine(r, j, xhat) applies both; row statistics go to mean_out / inv_std_out when given.
template <typename T, typename Affine>
void normalize_rows(ThreadPool& pool, const T* x, T* y, int64_t rows, int64_t cols, double epsilon,
                    std::vector<double>* mean_out, std::vector<double>* inv_std_out, Affine affine) {
  pool.parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      double mean, var;
      moments(xr, cols, 1, mean, var);
      const double inv_std = 1.0 / std::sqrt(var + epsilon);
      for (int64_t j = 0; j < cols; ++j) yr[j] = static_cast<T>(affine(r, j, (static_cast<double>(xr[j]) - mean) * inv_std));
      if (mean_out) (*mean_out)[static_cast<size_t>(r)] = mean;
      if (inv_std_out) (*inv_std_out)[static_cast<size_t>(r)] = inv_std;
    }
  });
}

// N, C and the spatial size D of a [N, C, D1, ...] tensor.
void ncd(const ir::Tensor& x, const std::string& where, int64_t& n, int64_t& c, int64_t& d) {
  if (x.rank() < 2) throw_bad_input("{} X must have rank 2 or more (N, C, ...), got {}", where, ir::shape_to_string(x.shape()));
  n = x.shape()[0];
  c = x.shape()[1];
  d = 1;
  for (size_t i = 2; i < x.shape().size(); ++i) d *= x.shape()[i];
}

}  // namespace

LayerNormOutputs layer_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                        const ir::Tensor* bias, int64_t axis, double epsilon, ir::DType stat_dtype,
                                        const std::string& where) {
  const std::vector<int64_t> norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t cols = shape_numel(norm_shape);
  const int64_t rows = cols == 0 ? shape_numel({x.shape().begin(), x.shape().begin() + axis}) : x.numel() / cols;
  const std::vector<double> g = expand_to(scale, norm_shape, where, "Scale");
  const std::vector<double> b = bias ? expand_to(*bias, norm_shape, where, "B") : std::vector<double>(g.size(), 0.0);
  std::vector<double> mean(static_cast<size_t>(rows)), inv_std(static_cast<size_t>(rows));
  LayerNormOutputs out;
  out.y = ir::Tensor(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    normalize_rows(pool, x.values<T>().data(), out.y.mutable_values<T>().data(), rows, cols, epsilon, &mean, &inv_std,
                   [&](int64_t, int64_t j, double v) { return v * g[static_cast<size_t>(j)] + b[static_cast<size_t>(j)]; });
  });
  std::vector<int64_t> stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(x.shape().size(), 1);
  out.mean = tensor_from_doubles(stat_dtype, stat_shape, mean, where);
  out.inv_std_dev = tensor_from_doubles(stat_dtype, stat_shape, inv_std, where);
  return out;
}

ir::Tensor instance_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                     const ir::Tensor& bias, double epsilon, const std::string& where) {
  int64_t n, c, d;
  ncd(x, where, n, c, d);
  if (scale.numel() != c || bias.numel() != c) {
    throw_bad_input("{} scale and B need C = {} elements, got {} and {}", where, c, scale.numel(), bias.numel());
  }
  const std::vector<double> g = param_doubles(scale, where, "scale"), b = param_doubles(bias, where, "B");
  ir::Tensor y(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    normalize_rows(pool, x.values<T>().data(), y.mutable_values<T>().data(), n * c, d, epsilon, nullptr, nullptr,
                   [&](int64_t r, int64_t, double v) {
                     const auto ch = static_cast<size_t>(r % c);
                     return v * g[ch] + b[ch];
                   });
  });
  return y;
}

ir::Tensor group_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                  const ir::Tensor& bias, int64_t groups, double epsilon, bool per_group_affine,
                                  const std::string& where) {
  int64_t n, c, d;
  ncd(x, where, n, c, d);
  if (groups <= 0 || c % groups != 0) throw_bad_input("{} num_groups = {} does not divide C = {}", where, groups, c);
  const int64_t want = per_group_affine ? groups : c;
  if (scale.numel() != want || bias.numel() != want) {
    throw_bad_input("{} scale and bias need {} elements, got {} and {}", where, want, scale.numel(), bias.numel());
  }
  const std::vector<double> g = param_doubles(scale, where, "scale"), b = param_doubles(bias, where, "bias");
  const int64_t per_group = c / groups;
  ir::Tensor y(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    normalize_rows(pool, x.values<T>().data(), y.mutable_values<T>().data(), n * groups, per_group * d, epsilon, nullptr,
                   nullptr, [&](int64_t r, int64_t j, double v) {
                     const int64_t group = r % groups;
                     const auto k = static_cast<size_t>(per_group_affine ? group : group * per_group + j / d);
                     return v * g[k] + b[k];
                   });
  });
  return y;
}

}  // namespace scalec::kernels
