#pragma once
// Numpy-style (multidirectional) broadcasting: output shape and per-input strides.
#include <cstdint>
#include <string>
#include <vector>

namespace scalec::kernels {

/// The broadcast of `shapes`; throws Error(kBadInput) prefixed by `where` when they do not broadcast.
std::vector<int64_t> broadcast_shape(const std::vector<std::vector<int64_t>>& shapes, const std::string& where);

/// Strides (in elements) to read `shape` as if it had `out_shape`: 0 along broadcast axes.
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& shape, const std::vector<int64_t>& out_shape);

/// Row-major strides of `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

/// Product of dims.
int64_t shape_numel(const std::vector<int64_t>& shape);

/// For each flat index of `out_shape` in [begin, end), calls f(out_index, offsets...) where each
/// offset is the element index into one input, from its broadcast strides. Walks the index odometer
/// incrementally (no divisions per element).
template <size_t N, typename F>
void for_each_broadcast(const std::vector<int64_t>& out_shape, const std::vector<int64_t> (&strides)[N],
                        int64_t begin, int64_t end, F&& f) {
  const size_t rank = out_shape.size();
  std::vector<int64_t> idx(rank, 0);
  int64_t off[N] = {};
  int64_t rem = begin;
  for (size_t d = rank; d-- > 0;) {
    idx[d] = out_shape[d] ? rem % out_shape[d] : 0;
    rem = out_shape[d] ? rem / out_shape[d] : 0;
    for (size_t k = 0; k < N; ++k) off[k] += idx[d] * strides[k][d];
  }
  for (int64_t i = begin; i < end; ++i) {
    f(i, off);
    for (size_t d = rank; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
      if (idx[d] < out_shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= idx[d] * strides[k][d];
      idx[d] = 0;
    }
  }
}

}  // namespace scalec::kernels
