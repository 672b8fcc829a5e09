#include "distill/loss.h"

#include <algorithm>
#include <cmath>

#include "ir/error.h"

namespace scalec::distill {

namespace {

// Values of a float or double tensor as doubles (losses are computed in double).
std::vector<double> as_doubles(const ir::Tensor& t, const char* what) {
  if (t.dtype() == ir::DType::kFloat) {
    auto v = t.values<float>();
    return {v.begin(), v.end()};
  }
  if (t.dtype() == ir::DType::kDouble) {
    auto v = t.values<double>();
    return {v.begin(), v.end()};
  }
  throw_bad_input("{} must be float or double, got {}", what, ir::dtype_name(t.dtype()));
}

ir::Tensor like(const ir::Tensor& t, const std::vector<double>& values) {
  ir::Tensor out(t.dtype(), t.shape());
  if (t.dtype() == ir::DType::kFloat) {
    std::transform(values.begin(), values.end(), out.mutable_values<float>().begin(),
                   [](double v) { return static_cast<float>(v); });
  } else {
    std::copy(values.begin(), values.end(), out.mutable_values<double>().begin());
  }
  return out;
}

// [N, C] view of logits: N = shape[0], C = the rest.
std::pair<int64_t, int64_t> rows_cols(const ir::Tensor& t, const char* what) {
  if (t.rank() < 2) throw_bad_input("{} must have shape [N, C], got {}", what, ir::shape_to_string(t.shape()));
  return {t.shape()[0], t.numel() / std::max<int64_t>(t.shape()[0], 1)};
}

// log_softmax of each row of x (in place into out).
void log_softmax_rows(const std::vector<double>& x, int64_t n, int64_t c, double inv_t, std::vector<double>& out) {
  out.resize(x.size());
  for (int64_t i = 0; i < n; ++i) {
    const double* r = &x[i * c];
    double m = *std::max_element(r, r + c) * inv_t, s = 0;
    for (int64_t j = 0; j < c; ++j) s += std::exp(r[j] * inv_t - m);
    const double lse = m + std::log(s);
    for (int64_t j = 0; j < c; ++j) out[i * c + j] = r[j] * inv_t - lse;
  }
}

}  // namespace

LossResult cross_entropy(const ir::Tensor& logits, const ir::Tensor& labels, double eps) {
  auto [n, c] = rows_cols(logits, "cross-entropy logits");
  if (labels.numel() != n) {
    throw_bad_input("cross-entropy: {} labels for a batch of {}", labels.numel(), n);
  }
  std::vector<double> x = as_doubles(logits, "cross-entropy logits"), logp;
  log_softmax_rows(x, n, c, 1.0, logp);
  LossResult r;
  std::vector<double> d(x.size());
  long double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto y = static_cast<int64_t>(labels.element_as_double(i));
    if (y < 0 || y >= c) throw_bad_input("cross-entropy: label {} of sample {} is outside [0, {})", y, i, c);
    const double* lp = &logp[i * c];
    double row = 0;
    int64_t best = 0;
    for (int64_t j = 0; j < c; ++j) {
      const double target = (j == y ? 1.0 - eps : 0.0) + eps / static_cast<double>(c);
      row -= target * lp[j];
      d[i * c + j] = (std::exp(lp[j]) - target) / static_cast<double>(n);  // softmax - target
      if (lp[j] > lp[best]) best = j;
    }
    total += row;
    r.correct += best == y;
  }
  r.loss = static_cast<double>(total / n);
  r.dprediction = like(logits, d);
  return r;
}

LossResult mse(const ir::Tensor& prediction, const ir::Tensor& target) {
  if (prediction.shape() != target.shape()) {
    throw_bad_input("mse: prediction {} and target {} differ in shape", ir::shape_to_string(prediction.shape()),
                    ir::shape_to_string(target.shape()));
  }
  std::vector<double> p = as_doubles(prediction, "mse prediction"), t = as_doubles(target, "mse target");
  std::vector<double> d(p.size());
  long double total = 0;
  const double n = static_cast<double>(std::max<size_t>(p.size(), 1));
  for (size_t i = 0; i < p.size(); ++i) {
    total += (p[i] - t[i]) * (p[i] - t[i]);
    d[i] = 2.0 * (p[i] - t[i]) / n;
  }
  return {static_cast<double>(total / n), like(prediction, d), 0};
}

LossResult cosine_distance(const ir::Tensor& prediction, const ir::Tensor& target) {
  if (prediction.shape() != target.shape()) {
    throw_bad_input("cosine distance: prediction {} and target {} differ in shape", ir::shape_to_string(prediction.shape()),
                    ir::shape_to_string(target.shape()));
  }
  auto [n, c] = rows_cols(prediction, "cosine distance prediction");
  std::vector<double> p = as_doubles(prediction, "cosine prediction"), t = as_doubles(target, "cosine target");
  std::vector<double> d(p.size(), 0.0);
  long double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double* pi = &p[i * c];
    const double* ti = &t[i * c];
    double pt = 0, pp = 0, tt = 0;
    for (int64_t j = 0; j < c; ++j) {
      pt += pi[j] * ti[j];
      pp += pi[j] * pi[j];
      tt += ti[j] * ti[j];
    }
    if (pp == 0 || tt == 0) {  // no direction to align: the loss's maximum, no gradient
      total += 1.0;
      continue;
    }
    const double np = std::sqrt(pp), nt = std::sqrt(tt), cos = pt / (np * nt);
    total += 1.0 - cos;
    // d(1 - cos)/dp = -(t / (|p||t|) - cos * p / |p|^2), averaged over the batch
    for (int64_t j = 0; j < c; ++j) d[i * c + j] = -(ti[j] / (np * nt) - cos * pi[j] / pp) / static_cast<double>(n);
  }
  return {static_cast<double>(total) / static_cast<double>(std::max<int64_t>(n, 1)), like(prediction, d), 0};
}

LossResult kl_divergence(const ir::Tensor& student, const ir::Tensor& teacher, double temperature) {
  if (student.shape() != teacher.shape()) {
    throw_bad_input("distillation: student logits {} and teacher logits {} differ in shape",
                    ir::shape_to_string(student.shape()), ir::shape_to_string(teacher.shape()));
  }
  if (!(temperature > 0)) throw_bad_input("distillation temperature must be > 0, got {}", temperature);
  auto [n, c] = rows_cols(student, "student logits");
  std::vector<double> s = as_doubles(student, "student logits"), t = as_doubles(teacher, "teacher logits");
  std::vector<double> ls, lt, d(s.size());
  log_softmax_rows(s, n, c, 1.0 / temperature, ls);
  log_softmax_rows(t, n, c, 1.0 / temperature, lt);
  long double total = 0;
  const double t2 = temperature * temperature;
  for (int64_t i = 0; i < n * c; ++i) {
    const double pt = std::exp(lt[i]);
    total += pt * (lt[i] - ls[i]);
    // d/ds of T^2 * sum pt (log pt - log ps) = T^2 * (ps - pt) / T = T * (ps - pt)
    d[i] = temperature * (std::exp(ls[i]) - pt) / static_cast<double>(n);
  }
  LossResult r;
  r.loss = static_cast<double>(total) * t2 / static_cast<double>(n);
  r.dprediction = like(student, d);
  return r;
}

LossResult blend(const LossResult& a, double wa, const LossResult& b, double wb) {
  std::vector<double> ga = as_doubles(a.dprediction, "loss gradient"), gb = as_doubles(b.dprediction, "loss gradient");
  if (ga.size() != gb.size()) throw_internal("blend: gradients of {} and {} elements", ga.size(), gb.size());
  for (size_t i = 0; i < ga.size(); ++i) ga[i] = wa * ga[i] + wb * gb[i];
  LossResult r;
  r.loss = wa * a.loss + wb * b.loss;
  r.dprediction = like(b.dprediction, ga);
  r.correct = b.correct;
  return r;
}

double l1_penalty(const std::vector<const ir::Tensor*>& weights, std::vector<ir::Tensor>& grads, double lambda) {
  long double total = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    std::vector<double> w = as_doubles(*weights[k], "L1 weight");
    std::vector<double> g = as_doubles(grads[k], "L1 gradient");
    for (size_t i = 0; i < w.size(); ++i) {
      total += std::fabs(w[i]);
      g[i] += lambda * static_cast<double>((w[i] > 0) - (w[i] < 0));
    }
    grads[k] = like(grads[k], g);
  }
  return lambda * static_cast<double>(total);
}

}  // namespace scalec::distill
