#pragma once
// CPU kernels that make new values rather than move them: EyeLike, Range, OneHot, Trilu and
// Dropout (training mode draws its mask from MT19937, bit-compatible with numpy's RandomState).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// The bytes of the value 1 in `dtype` (numeric types, bool, float16, bfloat16).
std::vector<std::byte> one_bytes(ir::DType dtype, const std::string& where);

/// A 2-D `dtype` tensor of `shape` with ones on the diagonal j = i + k, zeros elsewhere.
ir::Tensor eye_like_cpu(ir::DType dtype, const std::vector<int64_t>& shape, int64_t k, const std::string& where);

/// The number of elements range_cpu gives; throws on the same bad arguments.
int64_t range_length(const ir::Tensor& start, const ir::Tensor& limit, const ir::Tensor& delta, const std::string& where);

/// start, start + delta, ... below `limit` (above it for a negative delta); all three are scalars of one type.
ir::Tensor range_cpu(const ir::Tensor& start, const ir::Tensor& limit, const ir::Tensor& delta, const std::string& where);

/// One-hot along `axis` (already in [0, rank]): values[1] where coordinate == index, values[0]
/// elsewhere. Indices outside [-depth, depth - 1] give a row of values[0].
ir::Tensor one_hot_cpu(const ir::Tensor& indices, int64_t depth, const ir::Tensor& values, int64_t axis, const std::string& where);

/// The upper (j >= i + k) or lower (j <= i + k) triangle of each matrix of the last two axes; zeros elsewhere.
ir::Tensor trilu_cpu(ThreadPool& pool, const ir::Tensor& x, int64_t k, bool upper, const std::string& where);

/// Training-mode dropout: keeps x where u >= ratio (u uniform in [0, 1) from MT19937 seeded with
/// `seed`, drawn as numpy's RandomState(seed).uniform does) and scales kept values by 1/(1-ratio).
/// Returns the output and the bool keep mask.
std::pair<ir::Tensor, ir::Tensor> dropout_train_cpu(const ir::Tensor& x, double ratio, uint32_t seed, const std::string& where);

}  // namespace scalec::kernels
