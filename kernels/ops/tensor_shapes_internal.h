#pragma once
// Shared by the tensor family's shape rules (tensor_shapes.cpp, tensor_index_shapes.cpp).
#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/ops/op_registry.h"
#include "kernels/ops/shape_rules.h"

namespace scalec::kernels::tensor_rules {

/// The integers of input i when its data is known (any integer dtype), else nullopt.
std::optional<std::vector<int64_t>> input_ints(const InferContext& ctx, size_t i, const char* what);
/// The length of 1-D input i (a shape, axes or pads argument) when known, else nullopt.
std::optional<int64_t> input_length(const InferContext& ctx, size_t i);
/// Product of dims: known when all are; the one dim itself (symbolic too) when the rest are 1.
ir::Dim dim_product(const shapes::Dims& dims);

}  // namespace scalec::kernels::tensor_rules
