// LSTM, GRU and RNN backward through time on the CPU. The forward is rerun keeping each step's
// state and gate inputs (recurrent_cell.h Stash), then each direction walks its steps back. Per
// step, dA [N, G*H] is the gradient at the gate inputs (before clip), dRin what multiplies R:
//   dH_prev = dH * (GRU: z) + dRin R,   dR += dRin^T H_prev,   dRb += sum_rows dRin
// and after the walk, over all steps at once (dA kept for every step):
//   dX = dA W,   dW = dA^T X,   dWb = sum_rows dA.
// Derivative terms of each cell (' is the derivative at the clipped input; clip' is 0 where clipped):
//   RNN   dA = dH f'
//   GRU   dz = dH (H_prev - h~), dh~ = dH (1 - z), dAh = dh~ g';
//         linear_before_reset = 0: d(rH) = dAh Rh, dr = d(rH) H_prev, dH_prev += d(rH) r, dRh += dAh^T (r H_prev)
//         linear_before_reset = 1: dr = dAh q, dq = dAh r (q = H_prev Rh^T + Rbh; dq multiplies Rh)
//   LSTM  dC += dH o h'(C); do = dH h(C); dAo = do f'; dC += dAo Po;
//         di = dC c~, df = dC C_prev, dc~ = dC i, dC_prev = dC f (input_forget: di -= df, no f gate);
//         dAf = df f', dAi = di f', dAc = dc~ g'; dC_prev += dAi Pi + dAf Pf; dP = sums of dA * C.
// A batch entry's steps past its sequence length pass dH and dC through unchanged; one of length 0
// ends in zero states, so no gradient reaches it through Y_h/Y_c.
#include <algorithm>

#include "ir/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/recurrent.h"
#include "kernels/cpu/recurrent_cell.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// Where dY[t, dir, b, :] and dY_h[dir, b, :] sit in the output's layout.
int64_t y_offset(const RnnAttrs& a, const rnn::Sizes& z, int64_t t, int64_t dir, int64_t b) {
  return a.layout == 0 ? ((t * z.d + dir) * z.n + b) * z.h : ((b * z.s + t) * z.d + dir) * z.h;
}
int64_t state_offset(const RnnAttrs& a, const rnn::Sizes& z, int64_t dir, int64_t b) {
  return a.layout == 0 ? (dir * z.n + b) * z.h : (b * z.d + dir) * z.h;
}

// dst += src^T-free product helper: C[m, n] (+)= op(A) op(B).
template <typename T>
void product(ThreadPool& pool, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
             int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
    }
    return;
  }
  GemmArgs<T> g;
  g.trans_a = ta, g.trans_b = tb;
  g.m = m, g.n = n, g.k = k;
  g.a = a, g.lda = lda, g.b = b, g.ldb = ldb;
  g.beta = accumulate ? T(1) : T(0);
  g.c = c, g.ldc = ldc;
  gemm_parallel(pool, g);
}

// The gradients of one direction, accumulated into the [D, ...] buffers of `out`.
template <typename T>
struct Buffers {
  std::vector<T> dx;          // [S, N, I]
  std::vector<T> dw, dr, db;  // [D, G*H, I], [D, G*H, H], [D, 2*G*H]
  std::vector<T> dh0, dc0;    // [D, N, H]
  std::vector<T> dp;          // [D, 3*H]
};

template <typename T>
void backward_direction(ThreadPool& pool, const RnnAttrs& a, const rnn::Prepared<T>& p, int64_t dir, const T* dy,
                        const T* dy_h, const T* dy_c, const RnnGradWants& wants, Buffers<T>& out) {
  const rnn::Sizes& z = p.z;
  const int64_t S = z.s, N = z.n, H = z.h, G = z.g, gh = G * H, I = z.i;
  const bool lstm = a.cell == RnnCell::kLstm, gru = a.cell == RnnCell::kGru;
  const bool lbr = gru && a.linear_before_reset;
  const T* r = p.r + dir * gh * H;
  const T* peep = lstm ? p.p.data() + dir * 3 * H : nullptr;
  const RnnActivationFn* fn = a.activations.data() + dir * a.functions_per_direction();

  rnn::Stash<T> st;
  std::vector<T> h_last(static_cast<size_t>(N * H)), c_last(lstm ? h_last.size() : 0);
  rnn::run_direction<T>(pool, a, p, dir, nullptr, h_last.data(), lstm ? c_last.data() : nullptr, &st);

  std::vector<T> dh(static_cast<size_t>(N * H), T(0)), dc(lstm ? dh.size() : 0, T(0));
  for (int64_t b = 0; b < N; ++b) {
    if (p.lens[static_cast<size_t>(b)] == 0) continue;  // Y_h/Y_c are 0 there, whatever the inputs
    for (int64_t j = 0; j < H; ++j) {
      if (dy_h) dh[static_cast<size_t>(b * H + j)] = dy_h[state_offset(a, z, dir, b) + j];
      if (dy_c && lstm) dc[static_cast<size_t>(b * H + j)] = dy_c[state_offset(a, z, dir, b) + j];
    }
  }
  std::vector<T> da_all(static_cast<size_t>(S * N * gh), T(0));  // rows t * N + b (time order, as X)
  std::vector<T> drin(static_cast<size_t>(N * gh)), dh_prev(static_cast<size_t>(N * H));
  std::vector<T> drh(gru && !lbr ? static_cast<size_t>(N * H) : 0), rh(drh.size());
  T* dr = out.dr.data() + dir * gh * H;
  T* drb = out.db.data() + dir * 2 * gh + gh;
  T* dp = lstm ? out.dp.data() + dir * 3 * H : nullptr;

  for (int64_t k = S - 1; k >= 0; --k) {
    const int64_t t = rnn::time_of(a, dir, k, S);
    const T* hp = st.h.data() + k * N * H;
    const T* pre = st.pre.data() + k * N * gh;
    T* da = da_all.data() + t * N * gh;
    std::fill(drin.begin(), drin.end(), T(0));
    for (int64_t b = 0; b < N; ++b) {
      const bool active = t < p.lens[static_cast<size_t>(b)];
      T* dhb = dh.data() + b * H;
      T* dhp = dh_prev.data() + b * H;
      if (!active) {
        std::copy(dhb, dhb + H, dhp);  // state passes through; dC stays as it is
        continue;
      }
      if (dy) {
        for (int64_t j = 0; j < H; ++j) dhb[j] += dy[y_offset(a, z, t, dir, b) + j];
      }
      const T* pb = pre + b * gh;
      T* dab = da + b * gh;
      T* drb_row = drin.data() + b * gh;
      for (int64_t j = 0; j < H; ++j) {
        const T hprev = hp[b * H + j];
        if (a.cell == RnnCell::kRnn) {
          const T x = rnn::clip_gate(a, pb[j]);
          dab[j] = dhb[j] * rnn::activate_grad(fn[0], x, rnn::activate(fn[0], x)) * rnn::clip_gate_grad(a, pb[j]);
          drb_row[j] = dab[j];
          dhp[j] = T(0);
        } else if (gru) {
          const T xz = rnn::clip_gate(a, pb[j]), xr = rnn::clip_gate(a, pb[H + j]), xh = rnn::clip_gate(a, pb[2 * H + j]);
          const T zg = rnn::activate(fn[0], xz), rg = rnn::activate(fn[0], xr), hh = rnn::activate(fn[1], xh);
          const T dz = dhb[j] * (hprev - hh);
          const T dah = dhb[j] * (T(1) - zg) * rnn::activate_grad(fn[1], xh, hh) * rnn::clip_gate_grad(a, pb[2 * H + j]);
          dhp[j] = dhb[j] * zg;
          dab[j] = dz * rnn::activate_grad(fn[0], xz, zg) * rnn::clip_gate_grad(a, pb[j]);
          dab[2 * H + j] = dah;
          if (lbr) {
            const T q = st.q[static_cast<size_t>((k * N + b) * H + j)];
            dab[H + j] = dah * q * rnn::activate_grad(fn[0], xr, rg) * rnn::clip_gate_grad(a, pb[H + j]);
            drb_row[2 * H + j] = dah * rg;  // dq
          } else {
            rh[static_cast<size_t>(b * H + j)] = rg * hprev;
            // dr waits for d(rH) = dAh Rh (below).
          }
          drb_row[j] = dab[j];
          drb_row[H + j] = dab[H + j];  // overwritten below for linear_before_reset = 0
        } else {
          const T cp = st.c[static_cast<size_t>(k * N * H + b * H + j)];
          const T cn = st.c[static_cast<size_t>((k + 1) * N * H + b * H + j)];
          const T xi = rnn::clip_gate(a, pb[j]), xo = rnn::clip_gate(a, pb[H + j]);
          const T xf = rnn::clip_gate(a, pb[2 * H + j]), xc = rnn::clip_gate(a, pb[3 * H + j]);
          const T ig = rnn::activate(fn[0], xi), og = rnn::activate(fn[0], xo);
          const T fg = a.input_forget ? T(1) - ig : rnn::activate(fn[0], xf);
          const T cc = rnn::activate(fn[1], xc), hc = rnn::activate(fn[2], cn);
          T dcn = dc[static_cast<size_t>(b * H + j)] + dhb[j] * og * rnn::activate_grad(fn[2], cn, hc);
          const T dao = dhb[j] * hc * rnn::activate_grad(fn[0], xo, og) * rnn::clip_gate_grad(a, pb[H + j]);
          if (peep) {
            dcn += dao * peep[H + j];
            dp[H + j] += dao * cn;
          }
          T di = dcn * cc;
          const T dfg = dcn * cp;
          T dcp = dcn * fg;
          T daf = T(0);
          if (a.input_forget) {
            di -= dfg;
          } else {
            daf = dfg * rnn::activate_grad(fn[0], xf, fg) * rnn::clip_gate_grad(a, pb[2 * H + j]);
          }
          const T dai = di * rnn::activate_grad(fn[0], xi, ig) * rnn::clip_gate_grad(a, pb[j]);
          const T dac = dcn * ig * rnn::activate_grad(fn[1], xc, cc) * rnn::clip_gate_grad(a, pb[3 * H + j]);
          if (peep) {
            dcp += dai * peep[j] + daf * peep[2 * H + j];
            dp[j] += dai * cp;
            dp[2 * H + j] += daf * cp;
          }
          dab[j] = dai, dab[H + j] = dao, dab[2 * H + j] = daf, dab[3 * H + j] = dac;
          for (int64_t gi = 0; gi < 4; ++gi) drb_row[gi * H + j] = dab[gi * H + j];
          dc[static_cast<size_t>(b * H + j)] = dcp;
          dhp[j] = T(0);
        }
      }
    }
    if (gru && !lbr) {
      // d(rH) = dAh Rh; dr = d(rH) H_prev; dH_prev += d(rH) r; dRh += dAh^T (r H_prev).
      product<T>(pool, false, false, N, H, H, da + 2 * H, gh, r + 2 * H * H, H, drh.data(), H, false);
      for (int64_t b = 0; b < N; ++b) {
        if (t >= p.lens[static_cast<size_t>(b)]) continue;
        const T* pb = pre + b * gh;
        for (int64_t j = 0; j < H; ++j) {
          const T xr = rnn::clip_gate(a, pb[H + j]);
          const T rg = rnn::activate(fn[0], xr);
          const T d = drh[static_cast<size_t>(b * H + j)];
          da[b * gh + H + j] = d * hp[b * H + j] * rnn::activate_grad(fn[0], xr, rg) * rnn::clip_gate_grad(a, pb[H + j]);
          drin[static_cast<size_t>(b * gh + H + j)] = da[b * gh + H + j];
          dh_prev[static_cast<size_t>(b * H + j)] += d * rg;
        }
      }
      if (wants.dr) product<T>(pool, true, false, H, H, N, da + 2 * H, gh, rh.data(), H, dr + 2 * H * H, H, true);
      for (int64_t b = 0; b < N; ++b) {
        for (int64_t j = 0; j < H; ++j) drb[2 * H + j] += da[b * gh + 2 * H + j];
      }
    }
    // The rows of dRin that multiply H_prev (GRU without linear_before_reset: z and r only).
    const int64_t rin = gru && !lbr ? 2 * H : gh;
    product<T>(pool, false, false, N, H, rin, drin.data(), gh, r, H, dh_prev.data(), H, true);
    if (wants.dr) product<T>(pool, true, false, rin, H, N, drin.data(), gh, hp, H, dr, H, true);
    for (int64_t b = 0; b < N; ++b) {
      for (int64_t j = 0; j < rin; ++j) drb[j] += drin[static_cast<size_t>(b * gh + j)];
    }
    std::swap(dh, dh_prev);
  }
  std::copy(dh.begin(), dh.end(), out.dh0.begin() + dir * N * H);
  if (lstm) std::copy(dc.begin(), dc.end(), out.dc0.begin() + dir * N * H);

  // Over all steps at once: dX += dA W, dW = dA^T X, dWb = sum dA.
  if (wants.dx) product<T>(pool, false, false, S * N, I, gh, da_all.data(), gh, p.w + dir * gh * I, I, out.dx.data(), I, true);
  if (wants.dw) product<T>(pool, true, false, gh, I, S * N, da_all.data(), gh, p.x.data(), I, out.dw.data() + dir * gh * I, I, false);
  T* dwb = out.db.data() + dir * 2 * gh;
  for (int64_t row = 0; row < S * N; ++row) {
    for (int64_t j = 0; j < gh; ++j) dwb[j] += da_all[static_cast<size_t>(row * gh + j)];
  }
}

}  // namespace

RnnGrads rnn_backward_cpu(ThreadPool& pool, const RnnAttrs& a, const RnnInputs& in, const Tensor* dy,
                          const Tensor* dy_h, const Tensor* dy_c, const RnnGradWants& wants, const std::string& where) {
  return dispatch_float(in.x->dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const rnn::Prepared<T> p = rnn::prepare<T>(a, in, where);
    const rnn::Sizes& z = p.z;
    const int64_t gh = z.g * z.h;
    auto check = [&](const Tensor* g, const Tensor* like, const char* what) -> const T* {
      if (g == nullptr) return nullptr;
      if (g->dtype() != in.x->dtype() || g->numel() != like->numel()) {
        throw_internal("{} the gradient of {} is {} {}", where, what, ir::dtype_name(g->dtype()),
                       ir::shape_to_string(g->shape()));
      }
      return g->values<T>().data();
    };
    const RnnOutputs shapes_of = {Tensor(in.x->dtype(), a.layout == 0 ? std::vector<int64_t>{z.s, z.d, z.n, z.h}
                                                                       : std::vector<int64_t>{z.n, z.s, z.d, z.h}),
                                  Tensor(in.x->dtype(), {z.d, z.n, z.h}), Tensor(in.x->dtype(), {z.d, z.n, z.h})};
    const T* pdy = check(dy, &shapes_of.y, "Y");
    const T* pdy_h = check(dy_h, &shapes_of.y_h, "Y_h");
    const T* pdy_c = check(dy_c, &shapes_of.y_c, "Y_c");

    Buffers<T> buf;
    buf.dx.assign(static_cast<size_t>(z.s * z.n * z.i), T(0));
    buf.dw.assign(static_cast<size_t>(z.d * gh * z.i), T(0));
    buf.dr.assign(static_cast<size_t>(z.d * gh * z.h), T(0));
    buf.db.assign(static_cast<size_t>(z.d * 2 * gh), T(0));
    buf.dh0.assign(static_cast<size_t>(z.d * z.n * z.h), T(0));
    buf.dc0.assign(buf.dh0.size(), T(0));
    buf.dp.assign(static_cast<size_t>(z.d * 3 * z.h), T(0));
    for (int64_t dir = 0; dir < z.d; ++dir) backward_direction<T>(pool, a, p, dir, pdy, pdy_h, pdy_c, wants, buf);

    const ir::DType dt = in.x->dtype();
    auto make = [&](const std::vector<T>& v, const std::vector<int64_t>& shape) {
      Tensor t(dt, shape);
      std::copy(v.begin(), v.end(), t.mutable_values<T>().begin());
      return t;
    };
    // A [D, N, H] buffer in the state inputs' layout.
    auto state = [&](const std::vector<T>& v) {
      if (a.layout == 0) return make(v, {z.d, z.n, z.h});
      Tensor t(dt, {z.n, z.d, z.h});
      T* pt = t.mutable_values<T>().data();
      for (int64_t d = 0; d < z.d; ++d) {
        for (int64_t b = 0; b < z.n; ++b) {
          std::copy(v.begin() + (d * z.n + b) * z.h, v.begin() + (d * z.n + b + 1) * z.h, pt + (b * z.d + d) * z.h);
        }
      }
      return t;
    };
    RnnGrads g;
    if (wants.dx) {
      if (a.layout == 0) {
        g.dx = make(buf.dx, in.x->shape());
      } else {
        g.dx = Tensor(dt, in.x->shape());
        T* px = g.dx.mutable_values<T>().data();
        for (int64_t t = 0; t < z.s; ++t) {
          for (int64_t b = 0; b < z.n; ++b) {
            std::copy(buf.dx.begin() + (t * z.n + b) * z.i, buf.dx.begin() + (t * z.n + b + 1) * z.i,
                      px + (b * z.s + t) * z.i);
          }
        }
      }
    }
    if (wants.dw) g.dw = make(buf.dw, in.w->shape());
    if (wants.dr) g.dr = make(buf.dr, in.r->shape());
    if (wants.db && in.b) g.db = make(buf.db, in.b->shape());
    if (wants.dinitial_h && in.initial_h) g.dinitial_h = state(buf.dh0);
    if (wants.dinitial_c && in.initial_c && a.cell == RnnCell::kLstm) g.dinitial_c = state(buf.dc0);
    if (wants.dp && in.p && a.cell == RnnCell::kLstm) g.dp = make(buf.dp, in.p->shape());
    return g;
  });
}

}  // namespace scalec::kernels
