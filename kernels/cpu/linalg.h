#pragma once
// Dense symmetric positive definite factorizations on row-major double matrices, for the numerics
// of the passes (GPTQ's inverse Hessian factor). Eigen's blocked LLT and triangular solves do the
// work (kernels/cpu/linalg.cpp); nothing here exposes an Eigen type.
#include <cstdint>

namespace scalec::kernels {

/// In place: the lower Cholesky factor L of the n x n symmetric matrix `a` (A = L L^T, read from
/// the lower triangle; the strictly upper triangle is set to 0). False, with `a` unspecified, when
/// A is not positive definite or holds a non-finite value.
bool cholesky_lower(double* a, int64_t n);

/// In place: the inverse of the n x n lower-triangular matrix `l` with a nonzero diagonal (the
/// strictly upper triangle is ignored and set to 0).
void invert_lower_triangular(double* l, int64_t n);

}  // namespace scalec::kernels
