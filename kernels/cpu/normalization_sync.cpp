// Synchronized BatchNormalization (data-parallel training): the batch statistics are those of the
// global batch, every rank's samples together, as one process holding them all would compute.
// Each statistic is a per-channel sum over this rank's [N, inner] elements, summed over the ranks
// (two passes: mean, then squared deviations from the global mean, as the local kernel does).
// Backward: with n the global count, xhat = (x - mean) * istd and dxhat = dy * scale,
//   dx = istd * (dxhat - sum(dxhat) / n - xhat * sum(dxhat * xhat) / n) + dmean / n + dvar * 2 (x - mean) / n
// where both sums run over the global batch; dscale and dB stay this rank's share.
#include <cmath>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/normalization.h"
#include "kernels/cpu/normalization_common.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

using norm_detail::param_doubles;
using norm_detail::tensor_from_doubles;

namespace {

struct View {
  int64_t batch = 0, p_count = 0, inner = 0;
};

View bn_view(const ir::Tensor& x, int64_t p_count, const std::string& where) {
  if (x.rank() < 2) throw_bad_input("{} X must have rank 2 or more (N, C, ...), got {}", where, ir::shape_to_string(x.shape()));
  int64_t spatial = 1;
  for (size_t d = 2; d < x.shape().size(); ++d) spatial *= x.shape()[d];
  const int64_t channels = x.shape()[1];
  if (p_count != channels && p_count != channels * spatial) {
    throw_bad_input("{} scale has {} elements; expected C = {} (or C*D = {})", where, p_count, channels, channels * spatial);
  }
  return {x.shape()[0], p_count, p_count == channels ? spatial : 1};
}

// Global mean and population variance per p, and the global element count per p.
template <typename T>
void global_stats(ThreadPool& pool, const T* px, const View& v, const SumOverRanks& sum, std::vector<double>& mean,
                  std::vector<double>& var, double& count) {
  const auto P = static_cast<size_t>(v.p_count);
  std::vector<double> sums(P + 1, 0.0);
  auto per_p = [&](auto f) {
    pool.parallel_for(v.p_count, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        double acc = 0;
        for (int64_t n = 0; n < v.batch; ++n) {
          const T* row = px + (n * v.p_count + p) * v.inner;
          for (int64_t i = 0; i < v.inner; ++i) acc += f(static_cast<double>(row[i]), static_cast<size_t>(p));
        }
        sums[static_cast<size_t>(p)] = acc;
      }
    });
  };
  per_p([](double x, size_t) { return x; });
  sums[P] = static_cast<double>(v.batch * v.inner);
  sum(sums);
  count = sums[P];
  mean.assign(P, 0.0);
  for (size_t p = 0; p < P; ++p) mean[p] = count > 0 ? sums[p] / count : 0.0;
  per_p([&](double x, size_t p) { return (x - mean[p]) * (x - mean[p]); });
  sums[P] = 0;
  sum(std::span<double>(sums.data(), P));
  var.assign(P, 0.0);
  for (size_t p = 0; p < P; ++p) var[p] = count > 0 ? sums[p] / count : 0.0;
}

}  // namespace

BatchNormOutputs batch_norm_forward_sync_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                             const ir::Tensor& bias, const ir::Tensor& mean, const ir::Tensor& var,
                                             double epsilon, double momentum, const SumOverRanks& sum, const std::string& where) {
  const View v = bn_view(x, scale.numel(), where);
  const auto P = static_cast<size_t>(v.p_count);
  const std::vector<double> s = param_doubles(scale, where, "scale"), b = param_doubles(bias, where, "B");
  const std::vector<double> mu = param_doubles(mean, where, "input_mean"), sigma2 = param_doubles(var, where, "input_var");
  BatchNormOutputs out;
  out.y = ir::Tensor(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    T* py = out.y.mutable_values<T>().data();
    std::vector<double> bm, bv;
    double count = 0;
    global_stats(pool, px, v, sum, bm, bv, count);
    std::vector<double> rm(P), rv(P), a(P), c(P);
    for (size_t p = 0; p < P; ++p) {
      rm[p] = mu[p] * momentum + bm[p] * (1 - momentum);
      rv[p] = sigma2[p] * momentum + bv[p] * (1 - momentum);
      a[p] = s[p] / std::sqrt(bv[p] + epsilon);
      c[p] = b[p] - bm[p] * a[p];
    }
    out.running_mean = tensor_from_doubles(mean.dtype(), mean.shape(), rm, where);
    out.running_var = tensor_from_doubles(var.dtype(), var.shape(), rv, where);
    out.saved_mean = tensor_from_doubles(mean.dtype(), mean.shape(), bm, where);
    out.saved_var = tensor_from_doubles(var.dtype(), var.shape(), bv, where);
    const int64_t rows = v.batch * v.p_count;
    pool.parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, v.inner)), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const auto p = static_cast<size_t>(r % v.p_count);
        for (int64_t i = 0; i < v.inner; ++i) {
          py[r * v.inner + i] = static_cast<T>(static_cast<double>(px[r * v.inner + i]) * a[p] + c[p]);
        }
      }
    });
  });
  return out;
}

NormGrads batch_norm_backward_sync_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor& dy,
                                       double epsilon, const std::vector<double>& dbatch_mean,
                                       const std::vector<double>& dbatch_var, const NormWants& want,
                                       const SumOverRanks& sum, const std::string& where) {
  const View v = bn_view(x, scale.numel(), where);
  const auto P = static_cast<size_t>(v.p_count);
  const std::vector<double> gamma = param_doubles(scale, where, "scale");
  NormGrads out;
  if (want.x) out.dx = ir::Tensor(x.dtype(), x.shape());
  std::vector<double> dg(P, 0.0), db(P, 0.0);
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    const T* pdy = dy.values<T>().data();
    std::vector<double> mean, var;
    double count = 0;
    global_stats(pool, px, v, sum, mean, var, count);
    std::vector<double> istd(P), partial(2 * P, 0.0);  // sum dxhat, sum dxhat * xhat
    for (size_t p = 0; p < P; ++p) istd[p] = 1.0 / std::sqrt(var[p] + epsilon);
    pool.parallel_for(v.p_count, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        const auto pi = static_cast<size_t>(p);
        double s1 = 0, s2 = 0, sg = 0, sb = 0;
        for (int64_t n = 0; n < v.batch; ++n) {
          const int64_t off = (n * v.p_count + p) * v.inner;
          for (int64_t i = off; i < off + v.inner; ++i) {
            const double g = static_cast<double>(pdy[i]), xh = (static_cast<double>(px[i]) - mean[pi]) * istd[pi];
            s1 += g * gamma[pi];
            s2 += g * gamma[pi] * xh;
            sg += g * xh;
            sb += g;
          }
        }
        partial[pi] = s1;
        partial[P + pi] = s2;
        dg[pi] = sg;
        db[pi] = sb;
      }
    });
    if (!want.x) return;
    sum(partial);
    const double inv_n = count > 0 ? 1.0 / count : 0.0;
    T* pdx = out.dx.mutable_values<T>().data();
    pool.parallel_for(v.p_count, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        const auto pi = static_cast<size_t>(p);
        const double m1 = partial[pi] * inv_n, m2 = partial[P + pi] * inv_n;
        const double dmean = dbatch_mean.empty() ? 0.0 : dbatch_mean[pi], dvar = dbatch_var.empty() ? 0.0 : dbatch_var[pi];
        for (int64_t n = 0; n < v.batch; ++n) {
          const int64_t off = (n * v.p_count + p) * v.inner;
          for (int64_t i = off; i < off + v.inner; ++i) {
            const double d = static_cast<double>(px[i]) - mean[pi], xh = d * istd[pi];
            const double dxh = static_cast<double>(pdy[i]) * gamma[pi];
            pdx[i] = static_cast<T>(istd[pi] * (dxh - m1 - xh * m2) + dmean * inv_n + dvar * 2 * d * inv_n);
          }
        }
      }
    });
  });
  if (want.scale) out.dscale = tensor_from_doubles(scale.dtype(), scale.shape(), dg, where);
  if (want.bias) out.dbias = tensor_from_doubles(scale.dtype(), scale.shape(), db, where);
  return out;
}

}  // namespace scalec::kernels
