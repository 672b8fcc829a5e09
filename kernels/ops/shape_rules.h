#pragma once
// Building blocks for shape and type rules (InferFn): symbolic dimensions, broadcasting, axes,
// and reading the shape arguments some ops take as tensors.
#include <cstdint>
#include <optional>
#include <vector>

#include "ir/type_info.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels::shapes {

using Dims = std::vector<ir::Dim>;

/// A dimension nothing is known about.
inline ir::Dim unknown_dim() { return ir::Dim{}; }
/// `n` unknown dimensions (rank known, sizes not).
Dims unknown_dims(size_t n);

/// A tensor type; `dims` nullopt means rank unknown.
ir::TypeInfo tensor_type(int32_t elem_type, std::optional<Dims> dims);
/// A tensor type with the element type of `t` and the given dims.
ir::TypeInfo like(const ir::TypeInfo& t, std::optional<Dims> dims);
/// Nothing known (element type 0, rank unknown).
ir::TypeInfo unknown_type();

/// Rank of `t`, or nullopt.
std::optional<int64_t> rank_of(const ir::TypeInfo& t);
/// The number in `d` when it is known.
inline std::optional<int64_t> value_of(const ir::Dim& d) { return d.value; }
/// Product of the dims when all are known.
std::optional<int64_t> known_numel(const Dims& dims);
/// The number of elements of a tensor of type `t` when its rank and all its dims are known.
std::optional<int64_t> known_numel(const ir::TypeInfo& t);
/// True when every dim is a number.
bool all_known(const Dims& dims);

/// ONNX multidirectional (numpy) broadcasting of input types; error naming the node when two
/// known dims differ and neither is 1. Result rank unknown when any input's rank is.
std::optional<Dims> broadcast(const InferContext& ctx, const std::vector<const ir::TypeInfo*>& inputs);

/// The integers of a known int32/int64 tensor (empty tensor: empty vector), or nullopt.
std::optional<std::vector<int64_t>> known_ints(const ir::Tensor* t);

/// Dim arithmetic that stays symbolic where it must: a known result only when all parts are known.
ir::Dim dim_from(std::optional<int64_t> v);

/// Rule: output 0 has the type of input `i`.
std::vector<ir::TypeInfo> same_as_input(const InferContext& ctx, size_t i = 0);
/// Rule: output 0 has the shape of input 0 and element type `elem_type`.
std::vector<ir::TypeInfo> same_shape_as(const InferContext& ctx, size_t i, int32_t elem_type);

}  // namespace scalec::kernels::shapes
