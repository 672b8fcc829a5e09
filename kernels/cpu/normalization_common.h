#pragma once
// Helpers the normalization kernels share: parameters read as double, statistics written back,
// the mean / variance of a contiguous run, and parameters broadcast to the normalized shape.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/tensor.h"
#include "kernels/cpu/broadcast.h"

namespace scalec::kernels::norm_detail {

/// A float parameter tensor's elements as doubles; throws when `t` is not floating point.
inline std::vector<double> param_doubles(const ir::Tensor& t, const std::string& where, const char* name) {
  if (!ir::dtype_is_float(t.dtype())) {
    throw_bad_input("{} {} must be floating point, not {}", where, name, ir::dtype_name(t.dtype()));
  }
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.element_as_double(i);
  return v;
}

/// A float or double tensor of `shape` holding `values`.
inline ir::Tensor tensor_from_doubles(ir::DType dtype, std::vector<int64_t> shape, const std::vector<double>& values,
                                      const std::string& where) {
  ir::Tensor t(dtype, std::move(shape));
  if (dtype == ir::DType::kFloat) {
    auto out = t.mutable_values<float>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  } else if (dtype == ir::DType::kDouble) {
    auto out = t.mutable_values<double>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  } else {
    throw_bad_input("{} does not support element type {} for its statistics", where, ir::dtype_name(dtype));
  }
  return t;
}

/// Mean and population variance of p[0], p[stride], ... (n elements), two-pass in double.
template <typename T>
void moments(const T* p, int64_t n, int64_t stride, double& mean, double& var) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(p[i * stride]);
  mean = n > 0 ? s / static_cast<double>(n) : 0.0;
  double q = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(p[i * stride]) - mean;
    q += d * d;
  }
  var = n > 0 ? q / static_cast<double>(n) : 0.0;
}

// `t` broadcast (unidirectionally) to `norm_shape`, flattened: one value per normalized element.
inline std::vector<double> expand_to(const ir::Tensor& t, const std::vector<int64_t>& norm_shape,
                                     const std::string& where, const char* name) {
  std::vector<int64_t> shape = t.shape();
  while (shape.size() > norm_shape.size() && shape.front() == 1) shape.erase(shape.begin());
  bool ok = shape.size() <= norm_shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) {
    const int64_t want = norm_shape[norm_shape.size() - shape.size() + i];
    ok = shape[i] == want || shape[i] == 1;
  }
  if (!ok) {
    throw_bad_input("{} {} of shape {} does not broadcast to the normalized shape {}", where, name,
                    ir::shape_to_string(t.shape()), ir::shape_to_string(norm_shape));
  }
  const std::vector<double> v = param_doubles(t, where, name);
  std::vector<double> out(static_cast<size_t>(shape_numel(norm_shape)));
  const std::vector<int64_t> strides[1] = {broadcast_strides(shape, norm_shape)};
  for_each_broadcast<1>(norm_shape, strides, 0, static_cast<int64_t>(out.size()),
                        [&](int64_t i, const int64_t* off) { out[static_cast<size_t>(i)] = v[static_cast<size_t>(off[0])]; });
  return out;
}

}  // namespace scalec::kernels::norm_detail
