// kernels/cpu/linalg.h: Cholesky factor and triangular inverse against their definitions.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "kernels/cpu/linalg.h"

using namespace scalec;

namespace {

// A = B B^T + n I for a random B: symmetric positive definite, row-major.
std::vector<double> random_spd(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d;
  std::vector<double> b(static_cast<size_t>(n * n)), a(b.size());
  for (double& v : b) v = d(rng);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = i == j ? static_cast<double>(n) : 0.0;
      for (int64_t k = 0; k < n; ++k) s += b[static_cast<size_t>(i * n + k)] * b[static_cast<size_t>(j * n + k)];
      a[static_cast<size_t>(i * n + j)] = s;
    }
  }
  return a;
}

// Largest |(X Y^T or X Y)[i][j] - E[i][j]| for row-major n x n matrices.
double max_product_error(const std::vector<double>& x, const std::vector<double>& y, bool transpose_y,
                         const std::vector<double>& expected, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) {
        const size_t yi = static_cast<size_t>(transpose_y ? j * n + k : k * n + j);
        s += x[static_cast<size_t>(i * n + k)] * y[yi];
      }
      worst = std::max(worst, std::abs(s - expected[static_cast<size_t>(i * n + j)]));
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("cholesky_lower factors an SPD matrix as L L^T with L lower triangular", "[linalg]") {
  for (int64_t n : {1, 7, 130}) {  // 130 crosses Eigen's block size
    const std::vector<double> a = random_spd(n, 3);
    std::vector<double> l = a;
    REQUIRE(kernels::cholesky_lower(l.data(), n));
    for (int64_t i = 0; i < n; ++i) {
      CHECK(l[static_cast<size_t>(i * n + i)] > 0);
      for (int64_t j = i + 1; j < n; ++j) REQUIRE(l[static_cast<size_t>(i * n + j)] == 0.0);
    }
    CHECK(max_product_error(l, l, true, a, n) < 1e-9 * static_cast<double>(n * n));
  }
}

TEST_CASE("cholesky_lower refuses matrices that are not positive definite or not finite", "[linalg]") {
  std::vector<double> indefinite = {1, 2, 2, 1};  // eigenvalues 3 and -1
  CHECK_FALSE(kernels::cholesky_lower(indefinite.data(), 2));
  std::vector<double> singular = {1, 1, 1, 1};
  CHECK_FALSE(kernels::cholesky_lower(singular.data(), 2));
  std::vector<double> nan = random_spd(4, 5);
  nan[5] = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(kernels::cholesky_lower(nan.data(), 4));
}

TEST_CASE("invert_lower_triangular gives L^-1 (lower triangular, L L^-1 = I)", "[linalg]") {
  const int64_t n = 150;
  std::vector<double> l = random_spd(n, 9);
  REQUIRE(kernels::cholesky_lower(l.data(), n));
  std::vector<double> inv = l;
  inv[1] = 123.0;  // the strictly upper triangle is ignored
  kernels::invert_lower_triangular(inv.data(), n);
  std::vector<double> eye(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) eye[static_cast<size_t>(i * n + i)] = 1.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) REQUIRE(inv[static_cast<size_t>(i * n + j)] == 0.0);
  }
  CHECK(max_product_error(l, inv, false, eye, n) < 1e-10);
}
