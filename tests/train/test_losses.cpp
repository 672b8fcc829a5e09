// Losses, optimizers and schedules against hand-computed values and finite differences.
#include <catch2/catch.hpp>

#include <cmath>

#include "distill/loss.h"
#include "distill/optimizer.h"
#include "distill/schedule.h"
#include "ir/error.h"
#include "support/tolerance.h"

using namespace scalec;

namespace {

ir::Tensor doubles(std::vector<int64_t> shape, std::vector<double> v) {
  ir::Tensor t(ir::DType::kDouble, std::move(shape));
  std::copy(v.begin(), v.end(), t.mutable_values<double>().begin());
  return t;
}

// Central differences of f at every element of x, compared with `analytic`.
template <typename F>
void check_gradient(const ir::Tensor& x, const ir::Tensor& analytic, F f) {
  const double eps = 1e-6;
  for (int64_t i = 0; i < x.numel(); ++i) {
    ir::Tensor hi = doubles(x.shape(), {x.values<double>().begin(), x.values<double>().end()});
    ir::Tensor lo = doubles(x.shape(), {x.values<double>().begin(), x.values<double>().end()});
    hi.mutable_values<double>()[i] += eps;
    lo.mutable_values<double>()[i] -= eps;
    const double numeric = (f(hi) - f(lo)) / (2 * eps);
    INFO("element " << i);
    CHECK(test::near(analytic.values<double>()[i], numeric, 1e-8, 1e-6));
  }
}

}  // namespace

TEST_CASE("cross-entropy equals -log softmax of the label, with label smoothing", "[train][loss]") {
  ir::Tensor logits = doubles({2, 3}, {1.0, 2.0, 3.0, 0.5, -1.0, 0.0});
  ir::Tensor labels = ir::Tensor::from_int64s({2}, std::vector<int64_t>{2, 0});
  auto lse = [](double a, double b, double c) { return std::log(std::exp(a) + std::exp(b) + std::exp(c)); };
  const double l0 = lse(1, 2, 3) - 3.0, l1 = lse(0.5, -1, 0) - 0.5;
  distill::LossResult r = distill::cross_entropy(logits, labels);
  CHECK(test::near(r.loss, (l0 + l1) / 2));
  CHECK(r.correct == 2);
  check_gradient(logits, r.dprediction, [&](const ir::Tensor& x) { return distill::cross_entropy(x, labels).loss; });

  // Smoothing 0.1 over 3 classes: target 0.9333 on the label, 0.0333 elsewhere (PyTorch's definition).
  distill::LossResult s = distill::cross_entropy(logits, labels, 0.1);
  const double row0 = -(0.1 / 3) * ((1 - lse(1, 2, 3)) + (2 - lse(1, 2, 3))) - (0.9 + 0.1 / 3) * (3 - lse(1, 2, 3));
  const double row1 = -(0.1 / 3) * ((-1 - lse(0.5, -1, 0)) + (0 - lse(0.5, -1, 0))) - (0.9 + 0.1 / 3) * (0.5 - lse(0.5, -1, 0));
  CHECK(test::near(s.loss, (row0 + row1) / 2));
  check_gradient(logits, s.dprediction, [&](const ir::Tensor& x) { return distill::cross_entropy(x, labels, 0.1).loss; });

  CHECK_THROWS_AS(distill::cross_entropy(logits, ir::Tensor::from_int64s({2}, std::vector<int64_t>{0, 3})), Error);
}

TEST_CASE("MSE and temperature KL have the right values and gradients", "[train][loss]") {
  ir::Tensor p = doubles({2, 2}, {1.0, 2.0, -1.0, 0.5});
  ir::Tensor t = doubles({2, 2}, {0.0, 2.5, -1.0, 1.5});
  distill::LossResult m = distill::mse(p, t);
  CHECK(test::near(m.loss, (1.0 + 0.25 + 0.0 + 1.0) / 4));
  check_gradient(p, m.dprediction, [&](const ir::Tensor& x) { return distill::mse(x, t).loss; });

  ir::Tensor teacher = doubles({2, 3}, {2.0, 0.0, -1.0, 0.3, 0.2, 0.1});
  ir::Tensor student = doubles({2, 3}, {1.0, 0.5, -0.5, -0.3, 0.9, 0.0});
  distill::LossResult same = distill::kl_divergence(teacher, teacher, 4.0);
  CHECK(std::fabs(same.loss) < 1e-15);
  distill::LossResult kl = distill::kl_divergence(student, teacher, 2.0);
  CHECK(kl.loss > 0);
  check_gradient(student, kl.dprediction, [&](const ir::Tensor& x) { return distill::kl_divergence(x, teacher, 2.0).loss; });
  CHECK_THROWS_AS(distill::kl_divergence(student, teacher, 0.0), Error);
}

TEST_CASE("cosine distance per sample has the right value and gradient", "[train][loss]") {
  ir::Tensor p = doubles({2, 2, 2}, {1.0, 2.0, -1.0, 0.5, 0.3, -0.2, 0.8, 1.1});
  ir::Tensor t = doubles({2, 2, 2}, {2.0, 4.0, -2.0, 1.0, -0.5, 0.1, 0.4, 0.9});
  distill::LossResult c = distill::cosine_distance(p, t);
  // sample 0 points where the teacher does (distance 0); sample 1 by hand
  const double dot = 0.3 * -0.5 + -0.2 * 0.1 + 0.8 * 0.4 + 1.1 * 0.9;
  const double np = std::sqrt(0.09 + 0.04 + 0.64 + 1.21), nt = std::sqrt(0.25 + 0.01 + 0.16 + 0.81);
  CHECK(test::near(c.loss, (0.0 + 1.0 - dot / (np * nt)) / 2));
  check_gradient(p, c.dprediction, [&](const ir::Tensor& x) { return distill::cosine_distance(x, t).loss; });
  // a zero prediction has no direction: distance 1, no gradient
  distill::LossResult z = distill::cosine_distance(doubles({1, 2}, {0.0, 0.0}), doubles({1, 2}, {1.0, 0.0}));
  CHECK(z.loss == 1.0);
  CHECK(z.dprediction.values<double>()[0] == 0.0);
  CHECK_THROWS_AS(distill::cosine_distance(p, doubles({2, 4}, {0, 0, 0, 0, 0, 0, 0, 0})), Error);
}

TEST_CASE("L1 penalty adds lambda * sign(w)", "[train][loss]") {
  ir::Tensor w = doubles({3}, {-2.0, 0.0, 0.5});
  std::vector<ir::Tensor> g = {doubles({3}, {0.1, 0.1, 0.1})};
  CHECK(test::near(distill::l1_penalty({&w}, g, 0.01), 0.025));
  CHECK(g[0].values<double>()[0] == Approx(0.09));
  CHECK(g[0].values<double>()[1] == Approx(0.1));
  CHECK(g[0].values<double>()[2] == Approx(0.11));
}

TEST_CASE("SGD with momentum, Nesterov and weight decay follows PyTorch's update", "[train][optim]") {
  for (bool nesterov : {false, true}) {
    distill::OptimizerOptions o;
    o.momentum = 0.9;
    o.nesterov = nesterov;
    o.weight_decay = 0.1;
    auto opt = distill::make_optimizer(o);
    ir::Tensor w = doubles({1}, {1.0});
    double ref_w = 1.0, buf = 0;
    for (int step = 0; step < 3; ++step) {
      const double g = 0.5 + step;
      opt->step({&w}, {doubles({1}, {g})}, 0.1);
      const double d = g + 0.1 * ref_w;
      buf = step == 0 ? d : 0.9 * buf + d;
      ref_w -= 0.1 * (nesterov ? d + 0.9 * buf : buf);
      CHECK(test::near(w.values<double>()[0], ref_w));
    }
  }
}

TEST_CASE("AdamW follows PyTorch's update with bias correction and decoupled decay", "[train][optim]") {
  distill::OptimizerOptions o;
  o.kind = "adamw";
  o.weight_decay = 0.01;
  auto opt = distill::make_optimizer(o);
  ir::Tensor w = doubles({1}, {1.0});
  double ref_w = 1.0, m = 0, v = 0;
  for (int t = 1; t <= 3; ++t) {
    const double g = 0.3 * t;
    opt->step({&w}, {doubles({1}, {g})}, 0.1);
    ref_w *= 1 - 0.1 * 0.01;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const double mhat = m / (1 - std::pow(0.9, t)), vhat = v / (1 - std::pow(0.999, t));
    ref_w -= 0.1 * mhat / (std::sqrt(vhat) + 1e-8);
    CHECK(test::near(w.values<double>()[0], ref_w, 1e-12, 1e-9));
  }
  auto state = opt->state();
  auto other = distill::make_optimizer(o);
  other->load_state(state);
  CHECK(other->steps() == 3);
  distill::OptimizerOptions bad;
  bad.kind = "adam";
  CHECK_THROWS_AS(distill::make_optimizer(bad), Error);
}

TEST_CASE("learning-rate schedules", "[train][schedule]") {
  distill::ScheduleOptions s;
  s.base_lr = 1.0;
  CHECK(distill::learning_rate(s, 100) == 1.0);
  s.kind = "step";
  s.step_size = 10;
  s.gamma = 0.5;
  CHECK(distill::learning_rate(s, 9) == 1.0);
  CHECK(distill::learning_rate(s, 10) == 0.5);
  CHECK(distill::learning_rate(s, 25) == 0.25);
  s.kind = "cosine";
  s.total_steps = 100;
  s.warmup_steps = 10;
  CHECK(distill::learning_rate(s, 0) == Approx(0.1));
  CHECK(distill::learning_rate(s, 9) == Approx(1.0));
  CHECK(distill::learning_rate(s, 10) == Approx(1.0));
  CHECK(distill::learning_rate(s, 55) == Approx(0.5));
  CHECK(distill::learning_rate(s, 100) == Approx(0.0).margin(1e-12));
  s.kind = "linear";
  CHECK_THROWS_AS(distill::check_schedule(s), Error);
}
