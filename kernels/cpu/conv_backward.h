#pragma once
// Conv and ConvTranspose backward on the CPU: the gradients of X, W and B from dY, on the same
// im2col/col2im + GEMM core as the forward (kernels/cpu/conv.h for the dimension letters).
#include <string>

#include "ir/tensor.h"
#include "kernels/cpu/conv.h"

namespace scalec::kernels {

class ThreadPool;

/// Which gradients a backward call computes.
struct ConvGradWants {
  bool dx = true, dw = true, db = true;
};

/// The gradients of X, W and B; an empty Tensor where not wanted.
struct ConvGrads {
  ir::Tensor dx, dw, db;
};

/// Gradients of Y = Conv(X, W) + B given dY; float and double. dW's sum over the batch runs in
/// per-thread partial sums added in a fixed order, so results depend only on the thread count.
ConvGrads conv_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& w, const ir::Tensor& dy,
                            const ConvGeometry& g, const ConvGradWants& wants, const std::string& where);

/// Gradients of Y = ConvTranspose(X, W) + B given dY; float and double.
ConvGrads conv_transpose_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& w, const ir::Tensor& dy,
                                      const ConvGeometry& g, const ConvGradWants& wants, const std::string& where);

}  // namespace scalec::kernels
