// BatchNormalization on the CPU, inference and training. X is viewed as [N, P, inner]: P = C and
// inner = D1*...*Dn for per-channel parameters, P = C*D1*...*Dn and inner = 1 for the
// per-activation parameters of `spatial=0` (opsets 1-7).
#include <cmath>
#include <utility>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/normalization.h"
#include "kernels/cpu/normalization_common.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

using norm_detail::param_doubles;
using norm_detail::tensor_from_doubles;

BatchNormOutputs batch_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                        const ir::Tensor& bias, const ir::Tensor& mean, const ir::Tensor& var,
                                        double epsilon, bool training, double momentum, const std::string& where) {
  if (x.rank() < 2) throw_bad_input("{} X must have rank 2 or more (N, C, ...), got {}", where, ir::shape_to_string(x.shape()));
  const int64_t batch = x.shape()[0], channels = x.shape()[1];
  int64_t spatial = 1;
  for (size_t d = 2; d < x.shape().size(); ++d) spatial *= x.shape()[d];
  const int64_t p_count = scale.numel();
  int64_t inner;
  if (p_count == channels) inner = spatial;
  else if (p_count == channels * spatial) inner = 1;
  else throw_bad_input("{} scale has {} elements; expected C = {} (or C*D = {} with spatial=0)", where, p_count, channels, channels * spatial);
  using Named = std::pair<const ir::Tensor*, const char*>;
  for (const auto& [t, name] : {Named{&bias, "B"}, Named{&mean, "input_mean"}, Named{&var, "input_var"}}) {
    if (t->numel() != p_count) throw_bad_input("{} {} has {} elements, scale has {}", where, name, t->numel(), p_count);
  }
  const std::vector<double> s = param_doubles(scale, where, "scale"), b = param_doubles(bias, where, "B");
  std::vector<double> mu = param_doubles(mean, where, "input_mean"), sigma2 = param_doubles(var, where, "input_var");
  const auto P = static_cast<size_t>(p_count);
  BatchNormOutputs out;
  out.y = ir::Tensor(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    T* py = out.y.mutable_values<T>().data();
    if (training) {
      // Batch statistics of each p over [N, inner], fixed order per p.
      std::vector<double> bm(P), bv(P);
      pool.parallel_for(p_count, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t p = lo; p < hi; ++p) {
          double sum = 0, sq = 0;
          for (int64_t n = 0; n < batch; ++n) {
            const T* row = px + (n * p_count + p) * inner;
            for (int64_t i = 0; i < inner; ++i) sum += static_cast<double>(row[i]);
          }
          const double count = static_cast<double>(batch * inner);
          const double m = count > 0 ? sum / count : 0.0;
          for (int64_t n = 0; n < batch; ++n) {
            const T* row = px + (n * p_count + p) * inner;
            for (int64_t i = 0; i < inner; ++i) {
              const double d = static_cast<double>(row[i]) - m;
              sq += d * d;
            }
          }
          bm[static_cast<size_t>(p)] = m;
          bv[static_cast<size_t>(p)] = count > 0 ? sq / count : 0.0;
        }
      });
      std::vector<double> rm(P), rv(P);
      for (size_t p = 0; p < P; ++p) {
        rm[p] = mu[p] * momentum + bm[p] * (1 - momentum);
        rv[p] = sigma2[p] * momentum + bv[p] * (1 - momentum);
      }
      out.running_mean = tensor_from_doubles(mean.dtype(), mean.shape(), rm, where);
      out.running_var = tensor_from_doubles(var.dtype(), var.shape(), rv, where);
      out.saved_mean = tensor_from_doubles(mean.dtype(), mean.shape(), bm, where);
      out.saved_var = tensor_from_doubles(var.dtype(), var.shape(), bv, where);
      mu = bm;
      sigma2 = bv;
    } else {
      out.running_mean = out.saved_mean = mean;
      out.running_var = out.saved_var = var;
    }
    // y = x * a + c with a = scale / sqrt(var + eps), c = B - mean * a.
    std::vector<double> a(P), c(P);
    for (size_t p = 0; p < P; ++p) {
      a[p] = s[p] / std::sqrt(sigma2[p] + epsilon);
      c[p] = b[p] - mu[p] * a[p];
    }
    const int64_t rows = batch * p_count;
    pool.parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const auto p = static_cast<size_t>(r % p_count);
        const T* xr = px + r * inner;
        T* yr = py + r * inner;
        for (int64_t i = 0; i < inner; ++i) yr[i] = static_cast<T>(static_cast<double>(xr[i]) * a[p] + c[p]);
      }
    });
  });
  return out;
}

}  // namespace scalec::kernels
