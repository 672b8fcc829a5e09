#pragma once
// gemm-to-matmul: a Gemm with a constant weight becomes MatMul + Add, so that the QOperator and
// dynamic formats (QLinearMatMul, MatMulInteger: standard ONNX has no integer Gemm) can take it.
//
//   Before: x -> Gemm(W, C, transB) -> y
//   After:  x -> MatMul(W' = transB ? W^T : W) -> t -> Add(C) -> y      (no C: MatMul writes y)
//
// Preconditions: alpha = 1, transA = 0, beta = 1 (or no C), W a constant float 2-D initializer.
// The MatMul keeps the Gemm's name (so --exclude-nodes still names it); nodes excluded by name or
// by op type "Gemm", and with keep_io_float those reading a graph input or writing a graph output,
// are left alone (the quantization passes then list them as left in float). Outputs are unchanged
// up to float rounding order.
#include <set>
#include <string>

#include "passes/core/pass.h"

namespace scalec::passes {

/// Rewrites Gemm with a constant weight into MatMul + Add (see the file comment).
class GemmToMatMul final : public Pass {
 public:
  GemmToMatMul(std::set<std::string> exclude_nodes, std::set<std::string> exclude_ops, bool keep_io_float = false)
      : exclude_nodes_(std::move(exclude_nodes)), exclude_ops_(std::move(exclude_ops)), keep_io_float_(keep_io_float) {}
  std::string name() const override { return "gemm-to-matmul"; }
  std::string options_text() const override;
  std::string run(ir::Model& model) override;

 private:
  std::set<std::string> exclude_nodes_, exclude_ops_;
  bool keep_io_float_ = false;
};

}  // namespace scalec::passes
