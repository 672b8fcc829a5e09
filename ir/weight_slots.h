#pragma once
// The weight slot table: where each layer op keeps its weight and what the weight's axes mean,
// written once for prune, quantize, fold-batchnorm and the MAC counter.
//
//   Conv           W [M, C/g, k...]      input 1   out 0       in 1        kernel axes 2..
//   ConvTranspose  W [C, M/g, k...]      input 1   out 1 (/g)  in 0        kernel axes 2..
//   Gemm           B [K, N] / [N, K]     input 1   out 1 / 0   in 0 / 1    (transB = 0 / 1)
//   MatMul         B [..., K, N]         input 1   out r-1     in r-2
//   ConvInteger, QLinearConv (input 3), MatMulInteger, QLinearMatMul (input 3): as Conv / MatMul.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "ir/graph.h"

namespace scalec::ir {

/// Where a layer op keeps its weight, and its axes.
struct WeightSlot {
  size_t input = 1;       ///< the weight's input index
  int64_t out_axis = 0;   ///< output channels (for ConvTranspose: per group, M/g)
  int64_t in_axis = 1;    ///< input channels or K: the axis the products sum over
  bool conv = false;      ///< axes [2, rank) are the kernel's spatial axes
  bool transposed = false;  ///< ConvTranspose: each input element scatters over the weight
};

/// The slot of `node`'s weight of rank `rank` (the ops in the table above, default domain);
/// nullopt for other ops and for a weight of rank < 2.
std::optional<WeightSlot> weight_slot(const Node& node, int64_t rank);

}  // namespace scalec::ir
