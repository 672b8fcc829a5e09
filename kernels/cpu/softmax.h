#pragma once
// Softmax, LogSoftmax and Hardmax CPU kernels (all opsets: the caller picks the axis view).
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// Which of the three softmax-family ops.
enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

/// The [outer, n, inner] view the kernels read: n elements per softmax, `inner` lanes apart.
struct SoftmaxView {
  int64_t outer = 1, n = 1, inner = 1;
};
/// The view of `shape` along `axis`; with coerce_2d (opsets 1-12) every axis from `axis` on is in n.
SoftmaxView softmax_view(const std::vector<int64_t>& shape, int64_t axis, bool coerce_2d);

/// The op along `axis` (normalized). With `coerce_2d` (opsets 1-12) the input is read as the
/// matrix [prod(shape[:axis]), prod(shape[axis:])] and each row is one softmax; otherwise only
/// the one axis is. Stable: the row maximum is subtracted before exp; sums accumulate in double.
ir::Tensor softmax_forward_cpu(SoftmaxKind kind, ThreadPool& pool, const ir::Tensor& x, int64_t axis, bool coerce_2d,
                               const std::string& where);

/// The gradient of Softmax or LogSoftmax (not Hardmax) from the forward output `y` and its
/// gradient `dy`, over the same view as softmax_forward_cpu (softmax_backward.cpp).
ir::Tensor softmax_backward_cpu(SoftmaxKind kind, ThreadPool& pool, const ir::Tensor& y, const ir::Tensor& dy, int64_t axis,
                                bool coerce_2d, const std::string& where);

}  // namespace scalec::kernels
