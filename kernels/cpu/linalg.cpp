#include "kernels/cpu/linalg.h"

#include <cmath>

#include <Eigen/Cholesky>
#include <Eigen/Core>

namespace scalec::kernels {

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// [A 0; B C]^-1 = [A^-1 0; -C^-1 B A^-1  C^-1], recursively: n^3/3 flops, where one triangular
// solve against the identity would take n^3 (it does not know the result is triangular).
void invert_lower_in_place(Eigen::Ref<RowMatrix> m) {  // a Ref, not a template: blocks of blocks would not end
  const Eigen::Index n = m.rows();
  if (n <= 64) {
    RowMatrix inv = RowMatrix::Identity(n, n);
    m.template triangularView<Eigen::Lower>().solveInPlace(inv);
    m = inv.template triangularView<Eigen::Lower>();
    return;
  }
  const Eigen::Index h = n / 2;
  invert_lower_in_place(m.topLeftCorner(h, h));
  invert_lower_in_place(m.bottomRightCorner(n - h, n - h));
  RowMatrix b = m.bottomLeftCorner(n - h, h) * m.topLeftCorner(h, h).template triangularView<Eigen::Lower>();
  const auto c_inv = m.bottomRightCorner(n - h, n - h).template triangularView<Eigen::Lower>();
  m.bottomLeftCorner(n - h, h).noalias() = -(c_inv * b);
}

}  // namespace

bool cholesky_lower(double* a, int64_t n) {
  Eigen::Map<RowMatrix> m(a, n, n);
  if (!m.allFinite()) return false;  // LLT reports a non-positive pivot, not a NaN one
  Eigen::LLT<Eigen::Ref<RowMatrix>, Eigen::Lower> llt(m);  // factorizes in place, in blocks
  if (llt.info() != Eigen::Success) return false;
  m.template triangularView<Eigen::StrictlyUpper>().setZero();
  for (int64_t i = 0; i < n; ++i) {
    if (!(m(i, i) > 0) || !std::isfinite(m(i, i))) return false;
  }
  return true;
}

void invert_lower_triangular(double* l, int64_t n) {
  Eigen::Map<RowMatrix> m(l, n, n);
  m.template triangularView<Eigen::StrictlyUpper>().setZero();
  invert_lower_in_place(m);
}

}  // namespace scalec::kernels
