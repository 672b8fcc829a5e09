#pragma once
// Data-movement CPU kernels shared by the tensor ops (Transpose, Slice, Expand, Tile, Pad, Concat,
// Split, Gather, ...). They move raw elements by size, so one implementation serves every dtype
// of whole bytes, and strings; sub-byte types (int4, uint4, float4) are refused.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/tensor.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// Elements per parallel chunk of a copy (~64 KB of floats per task).
inline constexpr int64_t kCopyGrain = 16384;

/// Per result axis, the source element offset of each coordinate: result element (i0, ..., ik)
/// reads source element sum_d axes[d][i_d]. Tables cost sum(shape) entries, not numel.
using AxisOffsets = std::vector<std::vector<int64_t>>;

/// Bytes per element of `dtype` for data movement (0 for strings); throws Error(kBadInput)
/// prefixed by `where` for sub-byte and unknown types.
size_t element_bytes(ir::DType dtype, const std::string& where);

/// Offsets of `count` coordinates start, start + step, ... along an axis of element stride `stride`.
std::vector<int64_t> axis_range(int64_t count, int64_t start, int64_t step, int64_t stride);

/// Offsets of every coordinate of a source of `shape`, read as is (a contiguous copy).
AxisOffsets identity_axes(const std::vector<int64_t>& shape);

/// A read-only view of a tensor's elements: packed bytes, or strings.
struct ElementSource {
  explicit ElementSource(const ir::Tensor& t);
  const std::byte* bytes = nullptr;
  const std::string* strings = nullptr;
  size_t elem = 0;  ///< bytes per element (0 for strings)
};

/// A result under construction: a fresh tensor of any whole-byte dtype, or a vector of strings.
/// Writes are by element index and may come from several threads for distinct indices.
class MoveTarget {
 public:
  /// Zero-filled (empty strings) target; throws for dtypes that cannot be moved.
  MoveTarget(ir::DType dtype, std::vector<int64_t> shape, const std::string& where);
  /// A target that starts as a copy of `init` (scatter ops).
  MoveTarget(const ir::Tensor& init, const std::string& where);

  const std::vector<int64_t>& shape() const { return shape_; }
  size_t elem() const { return elem_; }
  /// Packed bytes (null for strings).
  std::byte* bytes() { return bytes_; }
  /// Copies element `si` of `src` (same dtype) to element `di`.
  void copy(int64_t di, const ElementSource& src, int64_t si) {
    if (bytes_) {
      copy_bytes(bytes_ + di * static_cast<int64_t>(elem_), src.bytes + si * static_cast<int64_t>(elem_));
    } else {
      strings_[static_cast<size_t>(di)] = src.strings[si];
    }
  }
  /// Sets every element to element `si` of `src` (same dtype).
  void fill(const ElementSource& src, int64_t si);
  /// The finished tensor; the target is empty afterwards.
  ir::Tensor finish();

 private:
  void copy_bytes(std::byte* d, const std::byte* s) const;
  ir::DType dtype_;
  std::vector<int64_t> shape_;
  size_t elem_ = 0;
  ir::Tensor out_;
  std::byte* bytes_ = nullptr;
  std::vector<std::string> strings_;
};

/// Writes the elements read from `src` through `axes` (iterating `shape`) into the box of `dst`
/// that starts at `origin` and has extent `shape`.
void gather_axes_into(ThreadPool& pool, const ir::Tensor& src, const AxisOffsets& axes, const std::vector<int64_t>& shape,
                      MoveTarget& dst, const std::vector<int64_t>& origin);

/// A tensor of `shape` (src's dtype) whose elements are read from `src` through `axes`.
ir::Tensor gather_axes(ThreadPool& pool, const ir::Tensor& src, const std::vector<int64_t>& shape, const AxisOffsets& axes,
                       const std::string& where);

/// The same elements under another shape of equal element count; shares storage (no copy).
ir::Tensor reshape_view(const ir::Tensor& t, std::vector<int64_t> shape);

/// A tensor of `dtype` and `shape` whose every element is the first element of `value`.
ir::Tensor filled_like(const ir::Tensor& value, std::vector<int64_t> shape, const std::string& where);

}  // namespace scalec::kernels
