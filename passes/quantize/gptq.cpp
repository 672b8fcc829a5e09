// GPTQ numerics (see gptq.h): the [rows, cols] view of a weight, Cholesky factors in double
// (kernels/cpu/linalg.h), the column loop with lazy block updates, and the output error measured
// through H.
#include "passes/quantize/gptq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "ir/error.h"
#include "kernels/common/quantize_math.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/linalg.h"

namespace scalec::passes {

namespace {

using quant::QuantParams;

size_t at(int64_t r, int64_t c, int64_t cols) { return static_cast<size_t>(r * cols + c); }

void run_gemm(const kernels::GemmArgs<double>& g, kernels::ThreadPool* pool) {
  if (pool) {
    kernels::gemm_parallel(*pool, g);
  } else {
    kernels::gemm(g);
  }
}

// In place: H (symmetric positive definite, row-major n x n) becomes U, upper triangular with
// U^T U = H^-1; false when H is not positive definite. With J the order-reversing permutation and
// J H J = L L^T, H^-1 = J L^-T L^-1 J = U^T U for U = J L^-1 J: one Cholesky and one triangular
// inverse. J A J of a row-major matrix is its element array reversed.
bool upper_cholesky_of_inverse(std::vector<double>& h, int64_t n) {
  std::reverse(h.begin(), h.end());
  if (!kernels::cholesky_lower(h.data(), n)) return false;
  kernels::invert_lower_triangular(h.data(), n);
  std::reverse(h.begin(), h.end());
  return true;
}

// How the elements of one weight share scales: group index per element of the GPTQ matrix, and
// the span of columns one scale block covers (0: scales fixed before the loop).
struct Grouping {
  std::vector<int64_t> gid;  ///< [rows * cols]
  int64_t groups = 1;
  std::vector<int64_t> scale_shape;
  int64_t span = 0;
};

Grouping make_grouping(const std::vector<int64_t>& shape, const quant::WeightAxes& axes, const GptqMatrix& m,
                       const quant::WeightQuantOptions& wq) {
  Grouping out;
  const auto rank = static_cast<int64_t>(shape.size());
  int64_t inner = 1, dim = 1, blocks = 1;
  const int64_t axis = wq.granularity == quant::Granularity::kBlock ? axes.reduction : axes.channel;
  if (wq.granularity != quant::Granularity::kPerTensor) {
    dim = shape[static_cast<size_t>(axis)];
    for (int64_t a = axis + 1; a < rank; ++a) inner *= shape[static_cast<size_t>(a)];
  }
  if (wq.granularity == quant::Granularity::kPerChannel) out.scale_shape = {dim};
  if (wq.granularity == quant::Granularity::kBlock) {
    blocks = (dim + wq.block_size - 1) / wq.block_size;
    out.scale_shape = shape;
    out.scale_shape[static_cast<size_t>(axis)] = blocks;
    out.span = wq.block_size * (m.cols / dim);  // columns of one block: block_size inputs x kernel volume
  }
  out.groups = std::accumulate(out.scale_shape.begin(), out.scale_shape.end(), int64_t{1}, std::multiplies<>());
  out.gid.resize(m.index.size());
  for (size_t e = 0; e < m.index.size(); ++e) {
    const int64_t i = m.index[e];
    switch (wq.granularity) {
      case quant::Granularity::kPerTensor: out.gid[e] = 0; break;
      case quant::Granularity::kPerChannel: out.gid[e] = (i / inner) % dim; break;
      case quant::Granularity::kBlock: {
        const int64_t o = i / (dim * inner), d = (i / inner) % dim, in = i % inner;
        out.gid[e] = (o * blocks + d / wq.block_size) * inner + in;
        break;
      }
    }
  }
  return out;
}

// Scale and zero point of every group touched by columns [c0, c1) of rows [r0, r1), from `w`.
void fit_params(const std::vector<double>& w, const Grouping& gr, int64_t cols, int64_t r0, int64_t r1, int64_t c0,
                int64_t c1, const quant::IntRange& range, bool symmetric, std::vector<QuantParams>& params,
                std::vector<float>& lo, std::vector<float>& hi) {
  for (int pass = 0; pass < 3; ++pass) {
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t c = c0; c < c1; ++c) {
        const auto g = static_cast<size_t>(gr.gid[at(r, c, cols)]);
        const auto v = static_cast<float>(w[at(r, c, cols)]);
        if (pass == 0) {
          lo[g] = std::numeric_limits<float>::infinity();
          hi[g] = -std::numeric_limits<float>::infinity();
        } else if (pass == 1) {
          lo[g] = std::min(lo[g], v);
          hi[g] = std::max(hi[g], v);
        } else {
          params[g] = quant::params_from_range(lo[g], hi[g], range, symmetric);
        }
      }
    }
  }
}

// The GPTQ column loop over rows [r0, r1) of `w` (all cols), with H of those rows. Writes the
// integers to q and leaves the dequantized values in w.
void gptq_rows(std::vector<double>& w, std::vector<int64_t>& q, const Grouping& gr, int64_t cols, int64_t r0,
               int64_t r1, std::vector<double> h, const quant::WeightQuantOptions& wq, const GptqOptions& o,
               std::vector<QuantParams>& params, const std::string& where, kernels::ThreadPool* pool) {
  const quant::IntRange range = quant::int_range(wq.bits, wq.is_signed, wq.symmetric);
  const int64_t rows = r1 - r0, n = cols;
  // Inputs that never fired carry no information: their weights cannot matter to the output.
  for (int64_t i = 0; i < n; ++i) {
    if (h[at(i, i, n)] == 0) {
      h[at(i, i, n)] = 1;
      for (int64_t r = r0; r < r1; ++r) w[at(r, i, cols)] = 0;
    }
  }
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (o.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h[at(a, a, n)] > h[at(b, b, n)]; });
  }
  // Work on permuted copies: W [rows, n], group ids, H.
  std::vector<double> wp(static_cast<size_t>(rows * n)), hp;
  std::vector<int64_t> gp(static_cast<size_t>(rows * n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      wp[at(r, j, n)] = w[at(r0 + r, perm[static_cast<size_t>(j)], cols)];
      gp[at(r, j, n)] = gr.gid[at(r0 + r, perm[static_cast<size_t>(j)], cols)];
    }
  }
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += h[at(i, i, n)];
  mean_diag /= static_cast<double>(n);
  if (o.act_order) {
    hp.resize(static_cast<size_t>(n * n));
    for (int64_t a = 0; a < n; ++a) {
      for (int64_t b = 0; b < n; ++b) hp[at(a, b, n)] = h[at(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)], n)];
    }
  } else {
    hp = std::move(h);  // identity permutation
  }
  std::vector<double> u;
  double damp = o.damp;
  for (int attempt = 0;; ++attempt) {
    u = hp;
    for (int64_t i = 0; i < n; ++i) u[at(i, i, n)] += damp * mean_diag;
    if (upper_cholesky_of_inverse(u, n)) break;
    // An ill-conditioned H (few samples, collinear inputs) needs more dampening, as the authors' code does.
    if (attempt == 6 || !(mean_diag > 0)) {
      throw_bad_input("GPTQ: the Hessian of {} is not positive definite, even dampened by {}", where, damp);
    }
    damp = damp > 0 ? damp * 10 : 0.01;
  }
  std::vector<double>().swap(hp);  // only U is read from here on
  Grouping local;  // group ids of the permuted rows, for fit_params
  local.gid = std::move(gp);
  std::vector<float> lo(params.size()), hi(params.size());
  // Lazy scales: one scale block spans `span` columns; make the lazy-update block a multiple of it
  // so that a block's scales are fitted from fully updated weights.
  const int64_t span = o.act_order ? 0 : gr.span;
  int64_t bs = std::max<int64_t>(o.block, 1);
  if (span > 0) bs = span * std::max<int64_t>(1, bs / span);
  std::vector<double> err(static_cast<size_t>(rows * bs));
  std::vector<int64_t> qp(static_cast<size_t>(rows * n));
  for (int64_t i1 = 0; i1 < n; i1 += bs) {
    const int64_t i2 = std::min(n, i1 + bs), count = i2 - i1;
    for (int64_t i = i1; i < i2; ++i) {
      if (span > 0 && i % span == 0) {
        fit_params(wp, local, n, 0, rows, i, std::min(n, i + span), range, wq.symmetric, params, lo, hi);
      }
      const double d = u[at(i, i, n)];
      for (int64_t r = 0; r < rows; ++r) {
        const double x = wp[at(r, i, n)];
        const QuantParams& p = params[static_cast<size_t>(local.gid[at(r, i, n)])];
        const int64_t qi = quant::quantize_value(static_cast<float>(x), p, range);
        const double deq = static_cast<double>(static_cast<float>(qi - p.zero_point) * p.scale);
        qp[at(r, i, n)] = qi;
        wp[at(r, i, n)] = deq;
        const double e = (x - deq) / d;
        err[at(r, i - i1, bs)] = e;
        double* wr = &wp[at(r, 0, n)];
        const double* ui = &u[at(i, 0, n)];
        for (int64_t j = i + 1; j < i2; ++j) wr[j] -= e * ui[j];
      }
    }
    if (i2 < n) {  // W[:, i2:] -= Err[:, :count] U[i1:i2, i2:]
      kernels::GemmArgs<double> g;
      g.m = rows;
      g.n = n - i2;
      g.k = count;
      g.alpha = -1;
      g.a = err.data();
      g.lda = bs;
      g.b = &u[at(i1, i2, n)];
      g.ldb = n;
      g.beta = 1;
      g.c = &wp[at(0, i2, n)];
      g.ldc = n;
      run_gemm(g, pool);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = perm[static_cast<size_t>(j)];
      w[at(r0 + r, c, cols)] = wp[at(r, j, n)];
      q[at(r0 + r, c, cols)] = qp[at(r, j, n)];
    }
  }
}

}  // namespace

GptqMatrix gptq_matrix(const std::vector<int64_t>& shape, const quant::WeightAxes& axes) {
  GptqMatrix m;
  const auto rank = static_cast<int64_t>(shape.size());
  const int64_t numel = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  if (rank >= 2 && axes.channel == 0 && axes.reduction == 1) {
    m.rows = shape[0];
    m.cols = m.rows > 0 ? numel / m.rows : 0;
    m.index.resize(static_cast<size_t>(numel));
    std::iota(m.index.begin(), m.index.end(), int64_t{0});
  } else if (rank == 2 && axes.channel == 1 && axes.reduction == 0) {
    m.rows = shape[1];
    m.cols = shape[0];
    m.index.resize(static_cast<size_t>(numel));
    for (int64_t r = 0; r < m.rows; ++r) {
      for (int64_t c = 0; c < m.cols; ++c) m.index[at(r, c, m.cols)] = c * m.rows + r;
    }
  } else {
    throw_bad_input("GPTQ: no [output, input] view of a rank-{} weight with channel axis {}", rank, axes.channel);
  }
  return m;
}

quant::QuantizedWeight gptq_quantize_weight(const ir::Tensor& w, const quant::WeightAxes& axes,
                                            const std::vector<std::vector<double>>& hessians,
                                            const quant::WeightQuantOptions& wq, const GptqOptions& options,
                                            kernels::ThreadPool* pool) {
  if (w.dtype() != ir::DType::kFloat) throw_bad_input("GPTQ: can only quantize float32 weights, got {}", ir::dtype_name(w.dtype()));
  if (wq.granularity == quant::Granularity::kBlock && wq.block_size < 2) {
    throw_bad_input("block size must be at least 2, got {}", wq.block_size);
  }
  const quant::IntRange range = quant::int_range(wq.bits, wq.is_signed, wq.symmetric);
  const GptqMatrix m = gptq_matrix(w.shape(), axes);
  const auto groups = static_cast<int64_t>(hessians.size());
  if (groups == 0 || m.rows % groups != 0) throw_internal("GPTQ: {} Hessians for {} output channels", groups, m.rows);
  for (const auto& h : hessians) {
    if (static_cast<int64_t>(h.size()) != m.cols * m.cols) throw_internal("GPTQ: Hessian of {} for K = {}", h.size(), m.cols);
  }
  auto x = w.values<float>();
  std::vector<double> wd(m.index.size());
  for (size_t e = 0; e < wd.size(); ++e) {
    wd[e] = static_cast<double>(x[static_cast<size_t>(m.index[e])]);
    if (!std::isfinite(wd[e])) throw_bad_input("weight holds a non-finite value ({}) at element {}", wd[e], m.index[e]);
  }
  const Grouping gr = make_grouping(w.shape(), axes, m, wq);
  std::vector<QuantParams> params(static_cast<size_t>(gr.groups));
  if (gr.span == 0 || options.act_order) {  // scales from the original weights
    std::vector<float> lo(params.size()), hi(params.size());
    fit_params(wd, gr, m.cols, 0, m.rows, 0, m.cols, range, wq.symmetric, params, lo, hi);
  }
  std::vector<int64_t> q(wd.size());
  const int64_t per = m.rows / groups;
  for (int64_t g = 0; g < groups; ++g) {
    gptq_rows(wd, q, gr, m.cols, g * per, (g + 1) * per, hessians[static_cast<size_t>(g)], wq, options, params,
              fmt::format("output channels {}..{}", g * per, (g + 1) * per - 1), pool);
  }
  // Back to the stored layout.
  std::vector<int64_t> stored(q.size());
  for (size_t e = 0; e < q.size(); ++e) stored[static_cast<size_t>(m.index[e])] = q[e];
  quant::QuantizedWeight out;
  const ir::DType dtype = quant::storage_dtype(wq.bits, wq.is_signed);
  out.q = quant::make_integer_tensor(dtype, w.shape(), stored);
  out.scale = ir::Tensor(ir::DType::kFloat, gr.scale_shape);
  auto scales = out.scale.mutable_values<float>();
  std::vector<int64_t> zps(params.size());
  for (size_t g = 0; g < params.size(); ++g) {
    scales[g] = params[g].scale;
    zps[g] = params[g].zero_point;
  }
  out.zero_point = quant::make_integer_tensor(dtype, gr.scale_shape, zps);
  out.axis = wq.granularity == quant::Granularity::kBlock        ? axes.reduction
             : wq.granularity == quant::Granularity::kPerChannel ? axes.channel
                                                                 : 0;
  out.block_size = wq.granularity == quant::Granularity::kBlock ? wq.block_size : 0;
  return out;
}

double gptq_relative_error(const ir::Tensor& w, const ir::Tensor& wq, const quant::WeightAxes& axes,
                           const std::vector<std::vector<double>>& hessians, kernels::ThreadPool* pool) {
  const GptqMatrix m = gptq_matrix(w.shape(), axes);
  const auto groups = static_cast<int64_t>(hessians.size());
  if (groups == 0 || m.rows % groups != 0) throw_internal("GPTQ: {} Hessians for {} output channels", groups, m.rows);
  const int64_t per = m.rows / groups, k = m.cols;
  auto a = w.values<float>();
  auto b = wq.values<float>();
  std::vector<double> ref(static_cast<size_t>(per * k)), diff(ref.size()), t(ref.size());
  double num = 0, den = 0;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t r = 0; r < per; ++r) {
      for (int64_t c = 0; c < k; ++c) {
        const auto i = static_cast<size_t>(m.index[at(g * per + r, c, k)]);
        ref[at(r, c, k)] = static_cast<double>(a[i]);
        diff[at(r, c, k)] = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      }
    }
    // sum_r v_r^T H v_r = sum (V H) .* V, for V = W and V = W - Wq.
    for (int which = 0; which < 2; ++which) {
      const std::vector<double>& v = which == 0 ? ref : diff;
      kernels::GemmArgs<double> gm;
      gm.m = per;
      gm.n = gm.k = k;
      gm.a = v.data();
      gm.lda = k;
      gm.b = hessians[static_cast<size_t>(g)].data();
      gm.ldb = gm.ldc = k;
      gm.c = t.data();
      run_gemm(gm, pool);
      const double s = std::inner_product(v.begin(), v.end(), t.begin(), 0.0);
      (which == 0 ? den : num) += s;
    }
  }
  return den > 0 ? num / den : 0.0;
}

}  // namespace scalec::passes
