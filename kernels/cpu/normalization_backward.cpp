// Backward kernels of the normalization family on the CPU. BatchNormalization (training),
// LayerNormalization, InstanceNormalization and GroupNormalization all normalize "rows" (a set of
// elements sharing one mean and variance) and then apply a per-element affine map, so one
// template serves them. With n elements per row, xhat = (x - mean) * istd, y = xhat * g + b:
//   dxhat = dy * g
//   dx    = istd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))     (through mean and var)
//         + dmean / n + dvar * 2 (x - mean) / n                          (gradients reaching the
//           statistics themselves: BatchNormalization's saved/running stats, LayerNormalization's
//           Mean and InvStdDev outputs, with dvar = -istd^3 / 2 * dInvStdDev)
//   dg[k] = sum dy * xhat,  db[k] = sum dy   over the elements whose parameter is k.
// Statistics are recomputed in double (the forward's stat outputs may be float); parameter
// gradients are summed per row, then over rows in row order, so results do not depend on the
// thread count.
#include <cmath>

#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/normalization.h"
#include "kernels/cpu/normalization_common.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

using norm_detail::param_doubles;
using norm_detail::tensor_from_doubles;

namespace {

// Row r holds the elements base + s * stride + i (s < segs, i < len) with base = r * row_step;
// element j = s * len + i of the row uses parameter k = first_param(r) + j / span.
struct RowLayout {
  int64_t rows = 0, row_step = 0, segs = 1, len = 0, stride = 0;
  int64_t span = 1;          ///< consecutive row elements sharing one parameter
  int64_t params_per_row = 1;
  int64_t count() const { return segs * len; }
};

// Gradients reaching each row's statistics (empty vectors: none).
struct StatGrads {
  std::vector<double> dmean, dvar, dinv_std;
};

// Runs the backward of every row; `first_param(r)` is the parameter index of the row's first
// element, `gamma[k]` the scale. Returns dx and, when asked, dg/db per parameter.
template <typename T, typename FirstParam>
void rows_backward(ThreadPool& pool, const T* x, const T* dy, T* dx, const RowLayout& L, double epsilon,
                   const std::vector<double>& gamma, FirstParam first_param, const StatGrads& sg, bool want_dx,
                   std::vector<double>* dg, std::vector<double>* db) {
  const int64_t n = L.count();
  const auto kpr = static_cast<size_t>(L.params_per_row);
  std::vector<double> dg_rows(dg ? static_cast<size_t>(L.rows) * kpr : 0), db_rows(db ? dg_rows.size() : 0);
  const double inv_n = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
  pool.parallel_for(L.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t base = r * L.row_step;
      auto for_each = [&](auto f) {
        for (int64_t s = 0; s < L.segs; ++s) {
          const int64_t off = base + s * L.stride;
          for (int64_t i = 0; i < L.len; ++i) f(s * L.len + i, off + i);
        }
      };
      double sum = 0, sq = 0;
      for_each([&](int64_t, int64_t e) { sum += static_cast<double>(x[e]); });
      const double mean = sum * inv_n;
      for_each([&](int64_t, int64_t e) {
        const double d = static_cast<double>(x[e]) - mean;
        sq += d * d;
      });
      const double istd = 1.0 / std::sqrt(sq * inv_n + epsilon);
      const int64_t k0 = first_param(r);
      double s1 = 0, s2 = 0;  // sum dxhat, sum dxhat * xhat
      double* dgr = dg ? dg_rows.data() + static_cast<size_t>(r) * kpr : nullptr;
      double* dbr = db ? db_rows.data() + static_cast<size_t>(r) * kpr : nullptr;
      for_each([&](int64_t j, int64_t e) {
        const double xh = (static_cast<double>(x[e]) - mean) * istd, g = static_cast<double>(dy[e]);
        const double dxh = g * gamma[static_cast<size_t>(k0 + j / L.span)];
        s1 += dxh;
        s2 += dxh * xh;
        if (dgr) dgr[j / L.span] += g * xh;
        if (dbr) dbr[j / L.span] += g;
      });
      if (!want_dx) continue;
      const auto ri = static_cast<size_t>(r);
      const double dmean = sg.dmean.empty() ? 0.0 : sg.dmean[ri];
      double dvar = sg.dvar.empty() ? 0.0 : sg.dvar[ri];
      if (!sg.dinv_std.empty()) dvar -= 0.5 * istd * istd * istd * sg.dinv_std[ri];
      const double m1 = s1 * inv_n, m2 = s2 * inv_n;
      for_each([&](int64_t j, int64_t e) {
        const double d = static_cast<double>(x[e]) - mean, xh = d * istd;
        const double dxh = static_cast<double>(dy[e]) * gamma[static_cast<size_t>(k0 + j / L.span)];
        dx[e] = static_cast<T>(istd * (dxh - m1 - xh * m2) + dmean * inv_n + dvar * 2 * d * inv_n);
      });
    }
  });
  // Per-row partials summed over rows in row order.
  for (int64_t r = 0; r < L.rows; ++r) {
    const auto k0 = static_cast<size_t>(first_param(r));
    for (size_t l = 0; l < kpr; ++l) {
      if (dg) (*dg)[k0 + l] += dg_rows[static_cast<size_t>(r) * kpr + l];
      if (db) (*db)[k0 + l] += db_rows[static_cast<size_t>(r) * kpr + l];
    }
  }
}

// Runs rows_backward for x's dtype: dx (when wanted) and the parameter gradients dg, db (one
// value per entry of gamma; empty when not wanted).
template <typename FirstParam>
ir::Tensor run_rows(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& dy, const RowLayout& L, double epsilon,
                    const std::vector<double>& gamma, FirstParam first_param, const StatGrads& sg, const NormWants& want,
                    std::vector<double>& dg, std::vector<double>& db, const std::string& where) {
  if (dy.shape() != x.shape() || dy.dtype() != x.dtype()) {
    throw_internal("{} gradient {} {} does not match X {} {}", where, ir::dtype_name(dy.dtype()),
                   ir::shape_to_string(dy.shape()), ir::dtype_name(x.dtype()), ir::shape_to_string(x.shape()));
  }
  dg.assign(want.scale ? gamma.size() : 0, 0.0);
  db.assign(want.bias ? gamma.size() : 0, 0.0);
  ir::Tensor dx;
  if (want.x) dx = ir::Tensor(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    T* pdx = want.x ? dx.mutable_values<T>().data() : nullptr;
    rows_backward(pool, x.values<T>().data(), dy.values<T>().data(), pdx, L, epsilon, gamma, first_param, sg, want.x,
                  want.scale ? &dg : nullptr, want.bias ? &db : nullptr);
  });
  return dx;
}

// NormGrads from dx and per-parameter gradients shaped like scale and bias.
NormGrads pack(ir::Tensor dx, const std::vector<double>& dg, const std::vector<double>& db, const ir::Tensor& scale,
               const ir::Tensor& bias, const NormWants& want, const std::string& where) {
  NormGrads out;
  out.dx = std::move(dx);
  if (want.scale) out.dscale = tensor_from_doubles(scale.dtype(), scale.shape(), dg, where);
  if (want.bias) out.dbias = tensor_from_doubles(bias.dtype(), bias.shape(), db, where);
  return out;
}

// A LayerNormalization parameter's gradient: g (one value per element of `norm_shape`) summed
// over the axes along which the parameter broadcast (the inverse of norm_detail::expand_to).
ir::Tensor reduce_param(const std::vector<double>& g, const std::vector<int64_t>& norm_shape, const ir::Tensor& param,
                        const std::string& where) {
  std::vector<int64_t> shape = param.shape();
  while (shape.size() > norm_shape.size() && shape.front() == 1) shape.erase(shape.begin());
  std::vector<double> out(static_cast<size_t>(param.numel()), 0.0);
  const std::vector<int64_t> strides[1] = {broadcast_strides(shape, norm_shape)};
  for_each_broadcast<1>(norm_shape, strides, 0, static_cast<int64_t>(g.size()),
                        [&](int64_t j, const int64_t* off) { out[static_cast<size_t>(off[0])] += g[static_cast<size_t>(j)]; });
  return tensor_from_doubles(param.dtype(), param.shape(), out, where);
}

// [N, P, inner] view of BatchNormalization's X (as batch_norm_forward_cpu reads it).
void batch_norm_view(const ir::Tensor& x, int64_t p_count, int64_t& batch, int64_t& inner, const std::string& where) {
  if (x.rank() < 2) throw_bad_input("{} X must have rank 2 or more (N, C, ...), got {}", where, ir::shape_to_string(x.shape()));
  batch = x.shape()[0];
  const int64_t channels = x.shape()[1];
  int64_t spatial = 1;
  for (size_t d = 2; d < x.shape().size(); ++d) spatial *= x.shape()[d];
  if (p_count == channels) inner = spatial;
  else if (p_count == channels * spatial) inner = 1;
  else throw_bad_input("{} scale has {} elements; expected C = {} (or C*D = {})", where, p_count, channels, channels * spatial);
}

}  // namespace

NormGrads batch_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor& bias,
                                  const ir::Tensor& mean, const ir::Tensor& var, const ir::Tensor& dy, double epsilon,
                                  bool training, const std::vector<double>& dbatch_mean,
                                  const std::vector<double>& dbatch_var, const NormWants& want, const std::string& where) {
  const int64_t p_count = scale.numel();
  int64_t batch = 0, inner = 0;
  batch_norm_view(x, p_count, batch, inner, where);
  const std::vector<double> gamma = param_doubles(scale, where, "scale");
  if (training) {
    RowLayout L;
    L.rows = p_count;
    L.row_step = inner;
    L.segs = batch;
    L.len = inner;
    L.stride = p_count * inner;
    L.span = batch * inner;
    StatGrads sg{dbatch_mean, dbatch_var, {}};
    std::vector<double> dg, db;
    ir::Tensor dx = run_rows(pool, x, dy, L, epsilon, gamma, [](int64_t r) { return r; }, sg, want, dg, db, where);
    return pack(std::move(dx), dg, db, scale, bias, want, where);
  }
  // Inference: y = (x - mean) * a + B with a = scale / sqrt(var + eps), all constants but x.
  //   dx = dy * a;  dscale = sum dy * (x - mean) / sqrt(var + eps);  dB = sum dy.
  const std::vector<double> mu = param_doubles(mean, where, "input_mean"), sigma2 = param_doubles(var, where, "input_var");
  const auto P = static_cast<size_t>(p_count);
  std::vector<double> istd(P), dg(P), db(P);
  for (size_t p = 0; p < P; ++p) istd[p] = 1.0 / std::sqrt(sigma2[p] + epsilon);
  ir::Tensor dx;
  if (want.x) dx = ir::Tensor(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T* px = x.values<T>().data();
    const T* pdy = dy.values<T>().data();
    T* pdx = want.x ? dx.mutable_values<T>().data() : nullptr;
    pool.parallel_for(p_count, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        const auto pi = static_cast<size_t>(p);
        const double a = gamma[pi] * istd[pi];
        double sg = 0, sb = 0;
        for (int64_t n = 0; n < batch; ++n) {
          const int64_t off = (n * p_count + p) * inner;
          for (int64_t i = off; i < off + inner; ++i) {
            const double g = static_cast<double>(pdy[i]);
            if (pdx) pdx[i] = static_cast<T>(g * a);
            sg += g * (static_cast<double>(px[i]) - mu[pi]) * istd[pi];
            sb += g;
          }
        }
        dg[pi] = sg;
        db[pi] = sb;
      }
    });
  });
  return pack(std::move(dx), dg, db, scale, bias, want, where);
}

NormGrads layer_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor* bias,
                                  int64_t axis, const ir::Tensor& dy, double epsilon, const std::vector<double>& dmean,
                                  const std::vector<double>& dinv_std, const NormWants& want, const std::string& where) {
  const std::vector<int64_t> norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t cols = shape_numel(norm_shape);
  RowLayout L;
  L.len = cols;
  L.row_step = cols;
  L.rows = cols == 0 ? 0 : x.numel() / cols;
  L.params_per_row = cols;
  const NormWants inner{want.x, want.scale, want.bias && bias != nullptr};
  std::vector<double> dg, db;
  ir::Tensor dx = run_rows(pool, x, dy, L, epsilon, norm_detail::expand_to(scale, norm_shape, where, "Scale"),
                           [](int64_t) { return int64_t{0}; }, StatGrads{dmean, {}, dinv_std}, inner, dg, db, where);
  NormGrads out;
  out.dx = std::move(dx);
  if (inner.scale) out.dscale = reduce_param(dg, norm_shape, scale, where);
  if (inner.bias) out.dbias = reduce_param(db, norm_shape, *bias, where);
  return out;
}

NormGrads instance_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                     const ir::Tensor& bias, const ir::Tensor& dy, double epsilon, const NormWants& want,
                                     const std::string& where) {
  if (x.rank() < 2) throw_bad_input("{} X must have rank 2 or more (N, C, ...), got {}", where, ir::shape_to_string(x.shape()));
  const int64_t c = x.shape()[1];
  RowLayout L;
  L.len = c == 0 ? 0 : x.numel() / (x.shape()[0] * c);
  L.row_step = L.len;
  L.rows = x.shape()[0] * c;
  L.span = std::max<int64_t>(1, L.len);
  std::vector<double> dg, db;
  ir::Tensor dx = run_rows(pool, x, dy, L, epsilon, param_doubles(scale, where, "scale"), [c](int64_t r) { return r % c; },
                           StatGrads{}, want, dg, db, where);
  return pack(std::move(dx), dg, db, scale, bias, want, where);
}

NormGrads group_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor& bias,
                                  const ir::Tensor& dy, int64_t groups, double epsilon, bool per_group_affine,
                                  const NormWants& want, const std::string& where) {
  if (x.rank() < 2) throw_bad_input("{} X must have rank 2 or more (N, C, ...), got {}", where, ir::shape_to_string(x.shape()));
  const int64_t n = x.shape()[0], c = x.shape()[1];
  if (groups <= 0 || c % groups != 0) throw_bad_input("{} num_groups = {} does not divide C = {}", where, groups, c);
  const int64_t d = n * c == 0 ? 0 : x.numel() / (n * c), per_group = c / groups;
  RowLayout L;
  L.rows = n * groups;
  L.len = per_group * d;
  L.row_step = L.len;
  L.span = per_group_affine ? std::max<int64_t>(1, L.len) : std::max<int64_t>(1, d);
  L.params_per_row = per_group_affine ? 1 : per_group;
  auto first = [=](int64_t r) { return per_group_affine ? r % groups : (r % groups) * per_group; };
  std::vector<double> dg, db;
  ir::Tensor dx = run_rows(pool, x, dy, L, epsilon, param_doubles(scale, where, "scale"), first, StatGrads{}, want, dg, db, where);
  return pack(std::move(dx), dg, db, scale, bias, want, where);
}

ir::Tensor lp_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& y, const ir::Tensor& dy,
                                int64_t axis, int64_t p, const std::string& where) {
  // y = x / |x|_p along the axis, c = sum dy * y:
  //   p = 2: dx = (dy - y c) / |x|_2;   p = 1: dx = (dy - sign(x) c) / |x|_1;   |x| = 0: dx = 0.
  if (p != 1 && p != 2) throw_bad_input("{} p = {} is not supported (only 1 and 2)", where, p);
  const ReducePlan plan = make_reduce_plan(x.shape(), {axis}, true, where);
  ir::Tensor dx(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T *px = x.values<T>().data(), *py = y.values<T>().data(), *pdy = dy.values<T>().data();
    T* pdx = dx.mutable_values<T>().data();
    pool.parallel_for(plan.out_count, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plan.reduce_count)),
                      [&](int64_t lo, int64_t hi) {
                        for (int64_t o = lo; o < hi; ++o) {
                          const int64_t base = plan.base_offset(o);
                          double acc = 0, c = 0;
                          plan.visit(base, [&](int64_t off) {
                            const double v = static_cast<double>(px[off]);
                            acc += p == 1 ? std::fabs(v) : v * v;
                            c += static_cast<double>(pdy[off]) * static_cast<double>(py[off]);
                          });
                          const double norm = p == 1 ? acc : std::sqrt(acc);
                          const double inv = norm == 0 ? 0.0 : 1.0 / norm;
                          plan.visit(base, [&](int64_t off) {
                            const double v = static_cast<double>(px[off]);
                            const double dir = p == 2 ? static_cast<double>(py[off]) : (v > 0) - (v < 0);
                            pdx[off] = static_cast<T>((static_cast<double>(pdy[off]) - dir * c) * inv);
                          });
                        }
                      });
  });
  return dx;
}

ir::Tensor mvn_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& dy, const std::vector<int64_t>& axes,
                            const std::string& where) {
  // y = d * inv with d = x - mean, s = sqrt(mean(d^2)), inv = 1 / (s + kMvnEpsilon):
  //   dx = inv (dy - mean(dy)) - inv^2 / (s n) * sum(dy d) * d      (the last term 0 where s = 0)
  const ReducePlan plan = make_reduce_plan(x.shape(), axes, true, where);
  ir::Tensor dx(x.dtype(), x.shape());
  dispatch_float(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    const T *px = x.values<T>().data(), *pdy = dy.values<T>().data();
    T* pdx = dx.mutable_values<T>().data();
    const auto n = static_cast<double>(plan.reduce_count);
    pool.parallel_for(plan.out_count, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plan.reduce_count)),
                      [&](int64_t lo, int64_t hi) {
                        for (int64_t o = lo; o < hi; ++o) {
                          const int64_t base = plan.base_offset(o);
                          double sum = 0, sq = 0, gsum = 0, gd = 0;
                          plan.visit(base, [&](int64_t off) { sum += static_cast<double>(px[off]); });
                          const double mean = sum / n;
                          plan.visit(base, [&](int64_t off) {
                            const double d = static_cast<double>(px[off]) - mean, g = static_cast<double>(pdy[off]);
                            sq += d * d;
                            gsum += g;
                            gd += g * d;
                          });
                          const double s = std::sqrt(sq / n), inv = 1.0 / (s + kMvnEpsilon);
                          const double k = s == 0 ? 0.0 : inv * inv / (s * n) * gd;
                          plan.visit(base, [&](int64_t off) {
                            const double d = static_cast<double>(px[off]) - mean;
                            pdx[off] = static_cast<T>(inv * (static_cast<double>(pdy[off]) - gsum / n) - k * d);
                          });
                        }
                      });
  });
  return dx;
}

}  // namespace scalec::kernels
