// LSTM, GRU and RNN forward on the CPU (letters and layouts in recurrent.h). Each direction runs
// one GEMM for the input projection of all steps (S*N rows: the big product), then per step one
// GEMM of the state with R^T (GRU without linear_before_reset: two, since its h gate multiplies
// r * H_prev) and the gate arithmetic of the ONNX spec:
//   RNN   H = f(clip(Xt W^T + H_prev R^T + Wb + Rb))
//   GRU   z = f(clip(..z)), r = f(clip(..r)),
//         h~ = g(clip(Xt Wh^T + (r * H_prev) Rh^T + Rbh + Wbh))        linear_before_reset = 0
//         h~ = g(clip(Xt Wh^T + r * (H_prev Rh^T + Rbh) + Wbh))        linear_before_reset = 1
//         H = (1 - z) * h~ + z * H_prev
//   LSTM  i = f(clip(..i + Pi * C_prev)), f = f(clip(..f + Pf * C_prev)) (1 - i with input_forget),
//         c~ = g(clip(..c)), C = f * C_prev + i * c~, o = f(clip(..o + Po * C)), H = o * h(C)
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include <Eigen/Core>

#include "ir/error.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/recurrent.h"
#include "kernels/cpu/recurrent_cell.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

namespace rnn {

namespace {

using ir::Tensor;

const char* cell_name(RnnCell c) { return c == RnnCell::kLstm ? "LSTM" : c == RnnCell::kGru ? "GRU" : "RNN"; }

void check_shape(const Tensor& t, const std::vector<int64_t>& want, const char* what, const std::string& where) {
  if (t.shape() != want) {
    throw_bad_input("{} {} {} must have shape {}", where, what, ir::shape_to_string(t.shape()), ir::shape_to_string(want));
  }
}

// A state input ([D, N, H], or [N, D, H] in layout 1) as [D, N, H]; zeros when omitted.
template <typename T>
std::vector<T> state_input(const Tensor* t, const RnnAttrs& a, const Sizes& z, const char* what,
                           const std::string& where) {
  std::vector<T> out(static_cast<size_t>(z.d * z.n * z.h), T(0));
  if (t == nullptr) return out;
  check_shape(*t, a.layout == 0 ? std::vector<int64_t>{z.d, z.n, z.h} : std::vector<int64_t>{z.n, z.d, z.h}, what,
              where);
  const T* src = t->values<T>().data();
  for (int64_t d = 0; d < z.d; ++d) {
    for (int64_t b = 0; b < z.n; ++b) {
      const T* row = a.layout == 0 ? src + (d * z.n + b) * z.h : src + (b * z.d + d) * z.h;
      std::copy(row, row + z.h, out.begin() + (d * z.n + b) * z.h);
    }
  }
  return out;
}

}  // namespace

template <typename T>
Prepared<T> prepare(const RnnAttrs& a, const RnnInputs& in, const std::string& where) {
  const Tensor& x = *in.x;
  const Tensor& w = *in.w;
  const Tensor& r = *in.r;
  for (const Tensor* t : {in.w, in.r, in.b, in.initial_h, in.initial_c, in.p}) {
    if (t != nullptr && t->dtype() != x.dtype()) {
      throw_bad_input("{} X is {} but another float input is {}", where, ir::dtype_name(x.dtype()),
                      ir::dtype_name(t->dtype()));
    }
  }
  if (x.rank() != 3) throw_bad_input("{} X {} must have rank 3", where, ir::shape_to_string(x.shape()));
  if (w.rank() != 3 || r.rank() != 3) {
    throw_bad_input("{} W {} and R {} must have rank 3", where, ir::shape_to_string(w.shape()),
                    ir::shape_to_string(r.shape()));
  }
  Prepared<T> p;
  Sizes& z = p.z;
  z.s = x.shape()[a.layout == 0 ? 0 : 1];
  z.n = x.shape()[a.layout == 0 ? 1 : 0];
  z.i = x.shape()[2];
  z.g = a.gates();
  z.d = a.num_directions;
  if (w.shape()[0] != z.d) {
    throw_bad_input("{} W {} holds {} direction(s) but the direction attribute needs {}", where,
                    ir::shape_to_string(w.shape()), w.shape()[0], z.d);
  }
  if (w.shape()[1] % z.g != 0) {
    throw_bad_input("{} W {}: axis 1 must hold {} gates of hidden_size rows ({})", where,
                    ir::shape_to_string(w.shape()), z.g, cell_name(a.cell));
  }
  z.h = w.shape()[1] / z.g;
  if (a.hidden_size >= 0 && a.hidden_size != z.h) {
    throw_bad_input("{} hidden_size is {} but W {} gives {}", where, a.hidden_size, ir::shape_to_string(w.shape()), z.h);
  }
  check_shape(w, {z.d, z.g * z.h, z.i}, "W", where);
  check_shape(r, {z.d, z.g * z.h, z.h}, "R", where);
  p.w = w.values<T>().data();
  p.r = r.values<T>().data();
  p.b.assign(static_cast<size_t>(z.d * 2 * z.g * z.h), T(0));
  if (in.b != nullptr) {
    check_shape(*in.b, {z.d, 2 * z.g * z.h}, "B", where);
    std::copy(in.b->values<T>().begin(), in.b->values<T>().end(), p.b.begin());
  }
  if (a.cell == RnnCell::kLstm) {
    p.p.assign(static_cast<size_t>(z.d * 3 * z.h), T(0));
    if (in.p != nullptr) {
      check_shape(*in.p, {z.d, 3 * z.h}, "P", where);
      std::copy(in.p->values<T>().begin(), in.p->values<T>().end(), p.p.begin());
      p.has_p = true;
    }
  }
  p.lens.assign(static_cast<size_t>(z.n), z.s);
  if (in.sequence_lens != nullptr) {
    const Tensor& sl = *in.sequence_lens;
    check_shape(sl, {z.n}, "sequence_lens", where);
    for (int64_t b = 0; b < z.n; ++b) {
      int64_t len = 0;
      if (sl.dtype() == ir::DType::kInt32) len = sl.values<int32_t>()[static_cast<size_t>(b)];
      else if (sl.dtype() == ir::DType::kInt64) len = sl.values<int64_t>()[static_cast<size_t>(b)];
      else throw_bad_input("{} sequence_lens must be int32, got {}", where, ir::dtype_name(sl.dtype()));
      if (len < 0 || len > z.s) {
        throw_bad_input("{} sequence_lens[{}] is {}; it must be in [0, {}] (the sequence length)", where, b, len, z.s);
      }
      p.lens[static_cast<size_t>(b)] = len;
    }
  }
  p.h0 = state_input<T>(in.initial_h, a, z, "initial_h", where);
  if (a.cell == RnnCell::kLstm) p.c0 = state_input<T>(in.initial_c, a, z, "initial_c", where);
  // X to [S, N, I].
  p.x.resize(static_cast<size_t>(z.s * z.n * z.i));
  const T* px = x.values<T>().data();
  if (a.layout == 0) {
    std::copy(px, px + p.x.size(), p.x.begin());
  } else {
    for (int64_t b = 0; b < z.n; ++b) {
      for (int64_t t = 0; t < z.s; ++t) {
        std::copy(px + (b * z.s + t) * z.i, px + (b * z.s + t + 1) * z.i, p.x.begin() + (t * z.n + b) * z.i);
      }
    }
  }
  return p;
}

namespace {

// The input projection of direction `dir` for every step at once: [S*N, G*H] = X W^T + Wb + Rb
// (Rb of GRU's h gate left out under linear_before_reset: it sits inside r * (...)). Not zeroed
// first: the GEMM overwrites it (a 15 MB memset was 5% of a 28-step LSTM at batch 256).
template <typename T>
std::unique_ptr<T[]> input_projection(ThreadPool& pool, const RnnAttrs& a, const Prepared<T>& p, int64_t dir) {
  const Sizes& z = p.z;
  const int64_t gh = z.g * z.h, rows = z.s * z.n;
  std::unique_ptr<T[]> xw(new T[static_cast<size_t>(rows * gh)]);
  if (z.i == 0) std::fill(xw.get(), xw.get() + rows * gh, T(0));
  if (rows > 0 && z.i > 0) {
    GemmArgs<T> g;
    g.trans_b = true;
    g.m = rows, g.n = gh, g.k = z.i;
    g.a = p.x.data(), g.lda = z.i;
    g.b = p.w + dir * gh * z.i, g.ldb = z.i;
    g.c = xw.get(), g.ldc = gh;
    gemm_parallel(pool, g);
  }
  const T* wb = p.b.data() + dir * 2 * gh;
  const T* rb = wb + gh;
  std::vector<T> bias(static_cast<size_t>(gh));
  for (int64_t j = 0; j < gh; ++j) {
    const bool inside_reset = a.cell == RnnCell::kGru && a.linear_before_reset && j >= 2 * z.h;
    bias[static_cast<size_t>(j)] = wb[j] + (inside_reset ? T(0) : rb[j]);
  }
  for (int64_t row = 0; row < rows; ++row) {
    T* out = xw.get() + row * gh;
    for (int64_t j = 0; j < gh; ++j) out[j] += bias[static_cast<size_t>(j)];
  }
  return xw;
}

}  // namespace

// y[0..n) = f(x[0..n)), x clipped to [-clip, clip] first when `clip` is set. Tanh and Sigmoid go
// through Eigen's vectorized float kernels (libm's scalar tanhf and expf took 40% of an LSTM's
// time); the others one element at a time.
template <typename T>
void activate_block(const RnnActivationFn& f, std::optional<float> clip, const T* x, T* y, int64_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  if (f.kind == RnnActivation::kTanh || f.kind == RnnActivation::kSigmoid) {
    Eigen::Map<const Array> in(x, n);
    Eigen::Map<Array> out(y, n);
    if (clip) {
      const T c = static_cast<T>(*clip);
      out = in.max(-c).min(c);
    } else {
      out = in;
    }
    // 1 / (1 + exp(-x)) on Eigen's exp, not its logistic(): that one returns exactly 1 from x = 16.6,
    // where the 1 - z of a saturated GRU gate still counts (test_gru_seq_length: Y_h -1.1e-7, got 0).
    if (f.kind == RnnActivation::kTanh) out = out.tanh();
    else out = (T(1) + (-out).exp()).inverse();
    return;
  }
  for (int64_t k = 0; k < n; ++k) {
    const T v = clip ? std::clamp(x[k], static_cast<T>(-*clip), static_cast<T>(*clip)) : x[k];
    y[k] = activate(f, v);
  }
}

// Batch rows per parallel chunk: about 16K gate values, so a chunk outweighs the hand-off.
int64_t row_grain(int64_t gh) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(gh, 1)); }

template <typename T>
void run_direction(ThreadPool& pool, const RnnAttrs& a, const Prepared<T>& p, int64_t dir, T* y, T* h_final,
                   T* c_final, Stash<T>* stash) {
  const Sizes& z = p.z;
  const int64_t S = z.s, N = z.n, H = z.h, G = z.g, gh = G * H;
  const T* r = p.r + dir * gh * H;
  const T* rb = p.b.data() + dir * 2 * gh + gh;
  const T* peep = a.cell == RnnCell::kLstm && p.has_p ? p.p.data() + dir * 3 * H : nullptr;
  const RnnActivationFn* fn = a.activations.data() + dir * a.functions_per_direction();
  const bool lstm = a.cell == RnnCell::kLstm, gru = a.cell == RnnCell::kGru;
  const bool gru_split = gru && !a.linear_before_reset;  // the h gate's product waits for r
  const std::optional<float> clip = a.clip;

  const std::unique_ptr<T[]> xw = input_projection(pool, a, p, dir);
  std::vector<T> h(p.h0.begin() + dir * N * H, p.h0.begin() + (dir + 1) * N * H);
  std::vector<T> c = lstm ? std::vector<T>(p.c0.begin() + dir * N * H, p.c0.begin() + (dir + 1) * N * H)
                          : std::vector<T>();
  std::vector<T> hr(static_cast<size_t>(N * gh), T(0)), rh(gru_split ? static_cast<size_t>(N * H) : 0);
  std::vector<T> pre_local(stash ? 0 : static_cast<size_t>(N * gh));
  if (stash) {
    stash->h.assign(static_cast<size_t>((S + 1) * N * H), T(0));
    if (lstm) stash->c.assign(stash->h.size(), T(0));
    stash->pre.assign(static_cast<size_t>(S * N * gh), T(0));
    if (gru && a.linear_before_reset) stash->q.assign(static_cast<size_t>(S * N * H), T(0));
  }
  auto recurrent_product = [&](const T* state, int64_t first_row, int64_t rows) {
    if (N == 0 || rows == 0) return;
    GemmArgs<T> g;
    g.trans_b = true;
    g.m = N, g.n = rows, g.k = H;
    g.a = state, g.lda = H;
    g.b = r + first_row * H, g.ldb = H;
    g.c = hr.data() + first_row, g.ldc = gh;
    gemm_parallel(pool, g);
  };
  const int64_t grain = row_grain(gh);

  for (int64_t k = 0; k < S; ++k) {
    const int64_t t = time_of(a, dir, k, S);
    if (stash) {
      std::copy(h.begin(), h.end(), stash->h.begin() + k * N * H);
      if (lstm) std::copy(c.begin(), c.end(), stash->c.begin() + k * N * H);
    }
    recurrent_product(h.data(), 0, gru_split ? 2 * H : gh);
    const T* xwt = xw.get() + t * N * gh;
    T* pre = stash ? stash->pre.data() + k * N * gh : pre_local.data();
    if (gru_split) {
      // r first, then (r * H_prev) Rh^T for the h gate.
      pool.parallel_for(N, grain, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          T* pb = pre + b * gh;
          for (int64_t q = 0; q < 2 * H; ++q) pb[q] = xwt[b * gh + q] + hr[static_cast<size_t>(b * gh + q)];
          T* rr = rh.data() + b * H;
          activate_block(fn[0], clip, pb + H, rr, H);
          for (int64_t j = 0; j < H; ++j) rr[j] *= h[static_cast<size_t>(b * H + j)];
        }
      });
      recurrent_product(rh.data(), 2 * H, H);
    }
    pool.parallel_for(N, grain, [&](int64_t b0, int64_t b1) {
      std::vector<T> scratch(static_cast<size_t>(4 * H));
      T* g0 = scratch.data();  // per cell: LSTM i, o, f, c~ (then C, h(C)); GRU z, r, h~; RNN H
      T* g1 = g0 + H;
      T* g2 = g1 + H;
      T* g3 = g2 + H;
      for (int64_t b = b0; b < b1; ++b) {
        const bool active = t < p.lens[static_cast<size_t>(b)];
        T* hb = h.data() + b * H;
        T* pb = pre + b * gh;
        const T* xb = xwt + b * gh;
        const T* hrb = hr.data() + b * gh;
        T* yb = y ? y + ((t * z.d + dir) * N + b) * H : nullptr;
        T* hn = g0;  // the new state
        if (a.cell == RnnCell::kRnn) {
          for (int64_t j = 0; j < H; ++j) pb[j] = xb[j] + hrb[j];
          activate_block(fn[0], clip, pb, hn, H);
        } else if (gru) {
          const int64_t first = gru_split ? 2 * H : 0;  // the split path summed z and r already
          for (int64_t q = first; q < gh; ++q) pb[q] = xb[q] + hrb[q];
          activate_block(fn[0], clip, pb, g1, H);  // z
          if (a.linear_before_reset) {
            activate_block(fn[0], clip, pb + H, g2, H);  // r
            for (int64_t j = 0; j < H; ++j) {
              const T qv = hrb[2 * H + j] + rb[2 * H + j];
              if (stash) stash->q[static_cast<size_t>((k * N + b) * H + j)] = qv;
              pb[2 * H + j] = xb[2 * H + j] + g2[j] * qv;
            }
          }
          activate_block(fn[1], clip, pb + 2 * H, g3, H);  // h~
          for (int64_t j = 0; j < H; ++j) hn[j] = (T(1) - g1[j]) * g3[j] + g1[j] * hb[j];
        } else {
          T* cb = c.data() + b * H;
          for (int64_t q = 0; q < gh; ++q) pb[q] = xb[q] + hrb[q];
          if (peep) {
            for (int64_t j = 0; j < H; ++j) {
              pb[j] += peep[j] * cb[j];
              pb[2 * H + j] += peep[2 * H + j] * cb[j];
            }
          }
          activate_block(fn[0], clip, pb, g0, H);  // i
          if (a.input_forget) {
            for (int64_t j = 0; j < H; ++j) g2[j] = T(1) - g0[j];
          } else {
            activate_block(fn[0], clip, pb + 2 * H, g2, H);  // f
          }
          activate_block(fn[1], clip, pb + 3 * H, g3, H);  // c~
          for (int64_t j = 0; j < H; ++j) g3[j] = g2[j] * cb[j] + g0[j] * g3[j];  // C
          if (peep) {
            for (int64_t j = 0; j < H; ++j) pb[H + j] += peep[H + j] * g3[j];
          }
          activate_block(fn[0], clip, pb + H, g1, H);          // o
          activate_block(fn[2], std::nullopt, g3, g2, H);      // h(C): C itself is not clipped
          for (int64_t j = 0; j < H; ++j) hn[j] = g1[j] * g2[j];
          if (active) std::copy(g3, g3 + H, cb);
        }
        if (active) std::copy(hn, hn + H, hb);
        if (yb) {
          if (active) std::copy(hn, hn + H, yb);
          else std::fill(yb, yb + H, T(0));
        }
      }
    });
  }
  if (stash) {
    std::copy(h.begin(), h.end(), stash->h.begin() + S * N * H);
    if (lstm) std::copy(c.begin(), c.end(), stash->c.begin() + S * N * H);
  }
  // A sequence of length 0 ends in zero states, as ONNX Runtime gives them (not initial_h).
  for (int64_t b = 0; b < N; ++b) {
    if (p.lens[static_cast<size_t>(b)] > 0) continue;
    std::fill(h.begin() + b * H, h.begin() + (b + 1) * H, T(0));
    if (lstm) std::fill(c.begin() + b * H, c.begin() + (b + 1) * H, T(0));
  }
  std::copy(h.begin(), h.end(), h_final);
  if (lstm && c_final) std::copy(c.begin(), c.end(), c_final);
}

template Prepared<float> prepare(const RnnAttrs&, const RnnInputs&, const std::string&);
template Prepared<double> prepare(const RnnAttrs&, const RnnInputs&, const std::string&);
template void run_direction(ThreadPool&, const RnnAttrs&, const Prepared<float>&, int64_t, float*, float*, float*,
                            Stash<float>*);
template void run_direction(ThreadPool&, const RnnAttrs&, const Prepared<double>&, int64_t, double*, double*, double*,
                            Stash<double>*);

}  // namespace rnn

RnnOutputs rnn_forward_cpu(ThreadPool& pool, const RnnAttrs& a, const RnnInputs& in, const std::string& where) {
  return dispatch_float(in.x->dtype(), where, [&](auto tag) {
    using T = decltype(tag);
    const rnn::Prepared<T> p = rnn::prepare<T>(a, in, where);
    const rnn::Sizes& z = p.z;
    const ir::DType dt = in.x->dtype();
    std::vector<T> yh(static_cast<size_t>(z.d * z.n * z.h)), yc(a.cell == RnnCell::kLstm ? yh.size() : 0);
    RnnOutputs out;
    // run_direction writes every element of Y (0 past a sequence's length): layout 0 goes straight
    // into the output; layout 1 ([N, S, D, H]) through a layout 0 copy.
    out.y = ir::Tensor::uninitialized(dt, a.layout == 0 ? std::vector<int64_t>{z.s, z.d, z.n, z.h}
                                                         : std::vector<int64_t>{z.n, z.s, z.d, z.h});
    T* py = out.y.mutable_values<T>().data();
    std::vector<T> y0(a.layout == 0 ? 0 : static_cast<size_t>(out.y.numel()));
    T* y = a.layout == 0 ? py : y0.data();
    for (int64_t dir = 0; dir < z.d; ++dir) {
      rnn::run_direction<T>(pool, a, p, dir, y, yh.data() + dir * z.n * z.h,
                            yc.empty() ? nullptr : yc.data() + dir * z.n * z.h, nullptr);
    }
    if (a.layout == 1) {
      for (int64_t t = 0; t < z.s; ++t) {
        for (int64_t d = 0; d < z.d; ++d) {
          for (int64_t b = 0; b < z.n; ++b) {
            const T* src = y + ((t * z.d + d) * z.n + b) * z.h;
            std::copy(src, src + z.h, py + ((b * z.s + t) * z.d + d) * z.h);
          }
        }
      }
    }
    auto state_out = [&](const std::vector<T>& s) {
      ir::Tensor o = a.layout == 0 ? ir::Tensor(dt, {z.d, z.n, z.h}) : ir::Tensor(dt, {z.n, z.d, z.h});
      T* po = o.mutable_values<T>().data();
      for (int64_t d = 0; d < z.d; ++d) {
        for (int64_t b = 0; b < z.n; ++b) {
          const T* src = s.data() + (d * z.n + b) * z.h;
          std::copy(src, src + z.h, a.layout == 0 ? po + (d * z.n + b) * z.h : po + (b * z.d + d) * z.h);
        }
      }
      return o;
    };
    out.y_h = state_out(yh);
    if (a.cell == RnnCell::kLstm) out.y_c = state_out(yc);
    return out;
  });
}

}  // namespace scalec::kernels
