#pragma once
// Building blocks for backward rules (kernels/ops/<family>_grads.cpp): undoing broadcasting and
// the float elementwise arithmetic most rules are written with. Float and double only (the
// element types training and gradient checks use).
#include <vector>

#include "ir/tensor.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels::grads {

/// `g` summed over the dims that broadcasting expanded, so it has `shape` (a rule's dA for an
/// input A of that shape).
ir::Tensor sum_to_shape(const OpContext& ctx, const ir::Tensor& g, const std::vector<int64_t>& shape);

/// a * b, a + b, a - b with broadcasting (same float dtype).
ir::Tensor mul(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b);
ir::Tensor add(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b);
ir::Tensor sub(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b);
/// a / b with broadcasting.
ir::Tensor div(const OpContext& ctx, const ir::Tensor& a, const ir::Tensor& b);
/// -a.
ir::Tensor neg(const OpContext& ctx, const ir::Tensor& a);
/// s * a for a scalar s.
ir::Tensor scale(const OpContext& ctx, const ir::Tensor& a, double s);

/// The result vector of a rule with `n` inputs, all empty (no gradient) until set.
inline std::vector<ir::Tensor> none(size_t n) { return std::vector<ir::Tensor>(n); }

}  // namespace scalec::kernels::grads
