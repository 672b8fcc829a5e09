// Dimension letters: N batch, C input channels, M output channels, G groups, S input positions
// (product of input spatial dims), P output positions, K kernel positions.
#include "kernels/cpu/quant_conv.h"

#include <algorithm>

#include "ir/error.h"
#include "kernels/common/quantize_math.h"
#include "kernels/common/window_size.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/quant_gemm.h"
#include "kernels/cpu/quant_linear.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

// Geometry resolved against the shapes.
struct QConvPlan {
  int64_t n = 0, c = 0, m = 0, g = 1;
  std::vector<int64_t> in, kernel, out, stride, dilation, pad_begin;
  int64_t s = 1, k = 1, p = 1;
  std::vector<int64_t> out_shape;
};

std::vector<int64_t> attr_or(const std::vector<int64_t>& v, size_t n, int64_t fallback, const char* name,
                             const std::string& where) {
  if (v.empty()) return std::vector<int64_t>(n, fallback);
  if (v.size() != n) throw_bad_input("{} {} has {} values, expected {}", where, name, v.size(), n);
  return v;
}

QConvPlan plan_qconv(const Tensor& x, const Tensor& w, const QConvAttrs& a, const std::string& where) {
  if (x.rank() < 3 || w.rank() != x.rank()) {
    throw_bad_input("{} x {} and w {} must have the same rank, at least 3", where, ir::shape_to_string(x.shape()),
                    ir::shape_to_string(w.shape()));
  }
  QConvPlan q;
  const auto r = static_cast<size_t>(x.rank() - 2);
  q.n = x.shape()[0];
  q.c = x.shape()[1];
  q.m = w.shape()[0];
  q.g = a.group;
  if (q.g < 1 || q.c % q.g != 0 || q.m % q.g != 0 || w.shape()[1] * q.g != q.c) {
    throw_bad_input("{} group {} does not fit x {} and w {}", where, q.g, ir::shape_to_string(x.shape()),
                    ir::shape_to_string(w.shape()));
  }
  q.in.assign(x.shape().begin() + 2, x.shape().end());
  q.kernel.assign(w.shape().begin() + 2, w.shape().end());
  if (!a.kernel_shape.empty() && a.kernel_shape != q.kernel) {
    throw_bad_input("{} kernel_shape {} differs from the weight's {}", where, ir::shape_to_string(a.kernel_shape),
                    ir::shape_to_string(q.kernel));
  }
  q.stride = attr_or(a.strides, r, 1, "strides", where);
  q.dilation = attr_or(a.dilations, r, 1, "dilations", where);
  std::vector<int64_t> pads = attr_or(a.pads, 2 * r, 0, "pads", where);
  q.pad_begin.resize(r);
  q.out.resize(r);
  q.out_shape = {q.n, q.m};
  const std::optional<AutoPad> mode = auto_pad_of(a.auto_pad);
  if (!mode) throw_bad_input("{} unknown auto_pad '{}'", where, a.auto_pad);
  for (size_t d = 0; d < r; ++d) {
    if (q.stride[d] < 1 || q.dilation[d] < 1 || pads[d] < 0 || pads[d + r] < 0) {
      throw_bad_input("{} strides and dilations must be >= 1 and pads >= 0", where);
    }
    const WindowAxis win = window_axis(q.in[d], q.kernel[d], q.stride[d], q.dilation[d], pads[d], pads[d + r], *mode);
    if (q.kernel[d] < 1 || !win.fits) {
      throw_bad_input("{} kernel {} (dilated) is larger than the padded input {}", where, ir::shape_to_string(q.kernel),
                      ir::shape_to_string(x.shape()));
    }
    q.pad_begin[d] = win.pad_begin;
    q.out[d] = win.out;
    q.out_shape.push_back(q.out[d]);
  }
  q.s = shape_numel(q.in);
  q.k = shape_numel(q.kernel);
  q.p = shape_numel(q.out);
  return q;
}

int32_t scalar_int(const Tensor* t, DType want, const char* name, const std::string& where) {
  if (t == nullptr) return 0;
  if (t->numel() != 1)
    throw_bad_input("{} {} must be a scalar, has shape {}", where, name, ir::shape_to_string(t->shape()));
  if (t->dtype() != want) {
    throw_bad_input("{} {} type {} differs from its input's {}", where, name, ir::dtype_name(t->dtype()),
                    ir::dtype_name(want));
  }
  return static_cast<int32_t>(t->element_as_double(0));
}

// Per-output-channel values of a scalar-or-[M] parameter.
template <typename T>
std::vector<T> per_channel(const Tensor& t, int64_t m, const char* name, const std::string& where) {
  if (t.numel() != 1 && !(t.rank() == 1 && t.shape()[0] == m)) {
    throw_bad_input("{} {} must be a scalar or have {} elements, has shape {}", where, name, m,
                    ir::shape_to_string(t.shape()));
  }
  std::vector<T> out(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i)
    out[static_cast<size_t>(i)] = static_cast<T>(t.element_as_double(t.numel() == 1 ? 0 : i));
  return out;
}

// Per task (image, group, block of output positions): im2col into patches[j][ci * K + kp], one
// contiguous patch per output position, then y[m][j] = dot(w[m], patches[j]).
template <typename T>
void im2col_conv(ThreadPool& pool, const QConvPlan& q, const T* x, int32_t x_zp, const std::vector<int16_t>& w,
                 int32_t* y) {
  const int64_t cg = q.c / q.g, mg = q.m / q.g, ck = cg * q.k;
  const auto r = q.in.size();
  const int64_t cols = std::min(q.p, std::max<int64_t>(16, 131072 / std::max<int64_t>(1, ck)));
  const int64_t chunks = (q.p + cols - 1) / cols;
  const std::vector<int64_t> in_strides = contiguous_strides(q.in);
  const std::vector<int64_t> out_strides = contiguous_strides(q.out);
  const std::vector<int64_t> k_strides = contiguous_strides(q.kernel);
  pool.parallel_for(q.n * q.g * chunks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> src;
    std::vector<int16_t> patches;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t ni = task / (q.g * chunks), gi = task / chunks % q.g, p0 = task % chunks * cols;
      const int64_t np = std::min(cols, q.p - p0);
      // src[j * K + kp]: input position read by kernel position kp for output p0 + j, or -1 (padding).
      src.assign(static_cast<size_t>(np * q.k), -1);
      for (int64_t j = 0; j < np; ++j) {
        for (int64_t kp = 0; kp < q.k; ++kp) {
          int64_t flat = 0;
          bool inside = true;
          for (size_t d = 0; d < r && inside; ++d) {
            const int64_t od = (p0 + j) / out_strides[d] % q.out[d], kd = kp / k_strides[d] % q.kernel[d];
            const int64_t id = od * q.stride[d] - q.pad_begin[d] + kd * q.dilation[d];
            inside = id >= 0 && id < q.in[d];
            flat += id * in_strides[d];
          }
          if (inside) src[static_cast<size_t>(j * q.k + kp)] = flat;
        }
      }
      // Padding reads as the zero point, so it contributes 0 once centred.
      patches.resize(static_cast<size_t>(np * ck));
      const T* xg = x + (ni * q.c + gi * cg) * q.s;
      for (int64_t j = 0; j < np; ++j) {
        int16_t* patch = patches.data() + j * ck;
        const int64_t* sp = src.data() + j * q.k;
        for (int64_t ci = 0; ci < cg; ++ci) {
          const T* xc = xg + ci * q.s;
          for (int64_t kp = 0; kp < q.k; ++kp) {
            patch[ci * q.k + kp] = sp[kp] < 0 ? int16_t{0} : static_cast<int16_t>(xc[sp[kp]] - x_zp);
          }
        }
      }
      qgemm_s16(w.data() + gi * mg * ck, patches.data(), y + (ni * q.m + gi * mg) * q.p + p0, mg, np, ck, q.p);
    }
  });
}

// The int32 convolution of (x - x_zp) and (w - w_zp[m]), shape [N, M, out...].
Tensor integer_conv(ThreadPool& pool, const QConvPlan& q, const Tensor& x, int32_t x_zp, const Tensor& w,
                    const std::vector<int32_t>& w_zp) {
  const int64_t per_m = w.numel() / std::max<int64_t>(1, q.m);
  std::vector<int16_t> wc(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) {
    const auto k = static_cast<size_t>(i);
    const int32_t v = w.dtype() == DType::kInt8 ? w.values<int8_t>()[k] : w.values<uint8_t>()[k];
    wc[k] = static_cast<int16_t>(v - w_zp[static_cast<size_t>(i / per_m)]);
  }
  Tensor y(DType::kInt32, q.out_shape);
  int32_t* py = y.mutable_values<int32_t>().data();
  if (y.numel() == 0) return y;
  if (x.dtype() == DType::kInt8)
    im2col_conv(pool, q, x.values<int8_t>().data(), x_zp, wc, py);
  else
    im2col_conv(pool, q, x.values<uint8_t>().data(), x_zp, wc, py);
  return y;
}

void check_8bit(const Tensor& t, const char* name, const std::string& where) {
  if (t.dtype() != DType::kInt8 && t.dtype() != DType::kUInt8) {
    throw_bad_input("{} {} must be int8 or uint8, got {}", where, name, ir::dtype_name(t.dtype()));
  }
}

std::vector<int32_t> weight_zero_points(const Tensor* w_zp, const Tensor& w, int64_t m, const std::string& where) {
  if (w_zp == nullptr) return std::vector<int32_t>(static_cast<size_t>(m), 0);
  if (w_zp->dtype() != w.dtype()) {
    throw_bad_input("{} w_zero_point type {} differs from w's {}", where, ir::dtype_name(w_zp->dtype()),
                    ir::dtype_name(w.dtype()));
  }
  return per_channel<int32_t>(*w_zp, m, "w_zero_point", where);
}

}  // namespace

Tensor conv_integer_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* x_zero_point,
                                const Tensor* w_zero_point, const QConvAttrs& attrs, const std::string& where) {
  check_8bit(x, "x", where);
  check_8bit(w, "w", where);
  const QConvPlan q = plan_qconv(x, w, attrs, where);
  const int32_t x_zp = scalar_int(x_zero_point, x.dtype(), "x_zero_point", where);
  return integer_conv(pool, q, x, x_zp, w, weight_zero_points(w_zero_point, w, q.m, where));
}

Tensor qlinear_conv_forward_cpu(ThreadPool& pool, const Tensor& x, const Tensor& x_scale, const Tensor* x_zero_point,
                                const Tensor& w, const Tensor& w_scale, const Tensor* w_zero_point,
                                const Tensor& y_scale, const Tensor* y_zero_point, const Tensor* bias,
                                const QConvAttrs& attrs, const std::string& where) {
  check_8bit(x, "x", where);
  check_8bit(w, "w", where);
  const QConvPlan q = plan_qconv(x, w, attrs, where);
  const int32_t x_zp = scalar_int(x_zero_point, x.dtype(), "x_zero_point", where);
  const DType out_type = y_zero_point ? y_zero_point->dtype() : x.dtype();
  if (out_type != DType::kInt8 && out_type != DType::kUInt8) {
    throw_bad_input("{} y_zero_point must be int8 or uint8, got {}", where, ir::dtype_name(out_type));
  }
  const int32_t y_zp = scalar_int(y_zero_point, out_type, "y_zero_point", where);
  if (x_scale.numel() != 1 || y_scale.numel() != 1) throw_bad_input("{} x_scale and y_scale must be scalars", where);
  const float xs = quant_scale_values(x_scale, where)[0], ys = quant_scale_values(y_scale, where)[0];
  quant_scale_values(w_scale, where);  // checks the type
  const std::vector<double> w_scales = per_channel<double>(w_scale, q.m, "w_scale", where);
  std::vector<int32_t> b(static_cast<size_t>(q.m), 0);
  if (bias != nullptr) {
    if (bias->dtype() != DType::kInt32)
      throw_bad_input("{} bias must be int32, got {}", where, ir::dtype_name(bias->dtype()));
    if (bias->numel() != q.m) throw_bad_input("{} bias has {} elements, expected {}", where, bias->numel(), q.m);
    std::copy(bias->values<int32_t>().begin(), bias->values<int32_t>().end(), b.begin());
  }
  const Tensor acc = integer_conv(pool, q, x, x_zp, w, weight_zero_points(w_zero_point, w, q.m, where));
  std::vector<float> mult(static_cast<size_t>(q.m));  // in float, and the product too, as ONNX Runtime computes it
  for (size_t i = 0; i < mult.size(); ++i) mult[i] = xs * static_cast<float>(w_scales[i]) / ys;
  const auto range = quant_range(out_type);  // not a structured binding: clang 14 cannot capture those
  const int64_t lo = range.first, hi = range.second;
  Tensor y(out_type, q.out_shape);
  const int32_t* pa = acc.values<int32_t>().data();
  std::byte* py = y.mutable_bytes().data();
  pool.parallel_for(q.n * q.m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, q.p)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const auto ch = static_cast<size_t>(r % q.m);
      for (int64_t i = r * q.p; i < (r + 1) * q.p; ++i) {
        const int64_t v =
            quantize_scaled(static_cast<float>(static_cast<int64_t>(pa[i]) + b[ch]) * mult[ch], y_zp, lo, hi);
        if (out_type == DType::kInt8)
          reinterpret_cast<int8_t*>(py)[i] = static_cast<int8_t>(v);
        else
          reinterpret_cast<uint8_t*>(py)[i] = static_cast<uint8_t>(v);
      }
    }
  });
  return y;
}

}  // namespace scalec::kernels
