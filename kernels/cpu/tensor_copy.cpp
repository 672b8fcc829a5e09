#include "kernels/cpu/tensor_copy.h"

#include <algorithm>
#include <cstring>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"

namespace scalec::kernels {

namespace {

// One element of E bytes, so the compiler emits a plain load/store instead of a memcpy call.
template <size_t E>
struct Block {
  std::byte b[E];
};

// dst[j] = src[base + table[j]] for j < n, elements of E bytes.
template <size_t E>
void copy_row_strided(std::byte* dst, const std::byte* src, int64_t base, const int64_t* table, int64_t n) {
  auto* d = reinterpret_cast<Block<E>*>(dst);
  const auto* s = reinterpret_cast<const Block<E>*>(src);
  for (int64_t j = 0; j < n; ++j) d[j] = s[base + table[j]];
}

void copy_row_any(std::byte* dst, const std::byte* src, int64_t base, const int64_t* table, int64_t n, size_t elem) {
  switch (elem) {
    case 1: return copy_row_strided<1>(dst, src, base, table, n);
    case 2: return copy_row_strided<2>(dst, src, base, table, n);
    case 4: return copy_row_strided<4>(dst, src, base, table, n);
    case 8: return copy_row_strided<8>(dst, src, base, table, n);
    case 16: return copy_row_strided<16>(dst, src, base, table, n);
    default:
      for (int64_t j = 0; j < n; ++j) {
        std::memcpy(dst + j * static_cast<int64_t>(elem), src + (base + table[j]) * static_cast<int64_t>(elem), elem);
      }
  }
}

}  // namespace

size_t element_bytes(ir::DType dtype, const std::string& where) {
  if (dtype == ir::DType::kString) return 0;
  int bits = ir::dtype_bits(dtype);
  if (bits == 0 || bits % 8 != 0) throw_bad_input("{} does not support element type {}", where, ir::dtype_name(dtype));
  return static_cast<size_t>(bits / 8);
}

std::vector<int64_t> axis_range(int64_t count, int64_t start, int64_t step, int64_t stride) {
  std::vector<int64_t> t(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) t[static_cast<size_t>(i)] = (start + i * step) * stride;
  return t;
}

AxisOffsets identity_axes(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides = contiguous_strides(shape);
  AxisOffsets axes;
  for (size_t d = 0; d < shape.size(); ++d) axes.push_back(axis_range(shape[d], 0, 1, strides[d]));
  return axes;
}

ElementSource::ElementSource(const ir::Tensor& t) {
  if (t.dtype() == ir::DType::kString) {
    strings = t.strings().data();
  } else {
    bytes = t.bytes().data();
    elem = static_cast<size_t>(ir::dtype_bits(t.dtype()) / 8);
  }
}

MoveTarget::MoveTarget(ir::DType dtype, std::vector<int64_t> shape, const std::string& where)
    : dtype_(dtype), shape_(std::move(shape)), elem_(element_bytes(dtype, where)) {
  if (dtype_ == ir::DType::kString) {
    strings_.resize(static_cast<size_t>(shape_numel(shape_)));
  } else {
    out_ = ir::Tensor(dtype_, shape_);
    bytes_ = out_.mutable_bytes().data();
  }
}

MoveTarget::MoveTarget(const ir::Tensor& init, const std::string& where) : MoveTarget(init.dtype(), init.shape(), where) {
  if (bytes_) {
    if (!init.bytes().empty()) std::memcpy(bytes_, init.bytes().data(), init.bytes().size());
  } else {
    strings_ = init.strings();
  }
}

void MoveTarget::copy_bytes(std::byte* d, const std::byte* s) const {
  switch (elem_) {
    case 1: *d = *s; return;
    case 2: std::memcpy(d, s, 2); return;
    case 4: std::memcpy(d, s, 4); return;
    case 8: std::memcpy(d, s, 8); return;
    default: std::memcpy(d, s, elem_);
  }
}

void MoveTarget::fill(const ElementSource& src, int64_t si) {
  const int64_t n = shape_numel(shape_);
  if (!bytes_) {
    std::fill(strings_.begin(), strings_.end(), src.strings[si]);
    return;
  }
  const std::byte* value = src.bytes + si * static_cast<int64_t>(elem_);
  for (int64_t i = 0; i < n; ++i) std::memcpy(bytes_ + i * static_cast<int64_t>(elem_), value, elem_);
}

ir::Tensor MoveTarget::finish() {
  bytes_ = nullptr;
  if (dtype_ == ir::DType::kString) return ir::Tensor::from_strings(shape_, std::move(strings_));
  return std::move(out_);
}

void gather_axes_into(ThreadPool& pool, const ir::Tensor& src, const AxisOffsets& axes, const std::vector<int64_t>& shape,
                      MoveTarget& dst, const std::vector<int64_t>& origin) {
  const ElementSource s(src);
  if (shape_numel(shape) == 0) return;
  const std::vector<int64_t> dst_strides = contiguous_strides(dst.shape());
  int64_t dst_base = 0;
  for (size_t d = 0; d < origin.size(); ++d) dst_base += origin[d] * dst_strides[d];
  if (shape.empty()) {
    dst.copy(dst_base, s, 0);
    return;
  }
  const size_t rank = shape.size();
  const int64_t inner = shape.back();
  const int64_t rows = shape_numel(shape) / inner;
  const std::vector<int64_t>& last = axes.back();
  bool contiguous = true;
  for (int64_t j = 1; j < inner && contiguous; ++j) contiguous = last[static_cast<size_t>(j)] == last[0] + j;
  const size_t elem = dst.elem();
  std::byte* out_bytes = dst.bytes();

  pool.parallel_for(rows, std::max<int64_t>(1, kCopyGrain / inner), [&](int64_t lo, int64_t hi) {
    // Odometer over the outer axes, tracking the source and destination offsets of the row.
    std::vector<int64_t> idx(rank - 1, 0);
    int64_t rem = lo, src_off = 0, dst_off = dst_base;
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    for (size_t d = 0; d + 1 < rank; ++d) {
      src_off += axes[d][static_cast<size_t>(idx[d])];
      dst_off += idx[d] * dst_strides[d];
    }
    for (int64_t r = lo; r < hi; ++r) {
      if (out_bytes && contiguous) {
        std::memcpy(out_bytes + dst_off * static_cast<int64_t>(elem), s.bytes + (src_off + last[0]) * static_cast<int64_t>(elem),
                    static_cast<size_t>(inner) * elem);
      } else if (out_bytes) {
        copy_row_any(out_bytes + dst_off * static_cast<int64_t>(elem), s.bytes, src_off, last.data(), inner, elem);
      } else {
        for (int64_t j = 0; j < inner; ++j) dst.copy(dst_off + j, s, src_off + last[static_cast<size_t>(j)]);
      }
      for (size_t d = rank - 1; d-- > 0;) {
        const auto& table = axes[d];
        src_off -= table[static_cast<size_t>(idx[d])];
        if (++idx[d] < shape[d]) {
          src_off += table[static_cast<size_t>(idx[d])];
          dst_off += dst_strides[d];
          break;
        }
        dst_off -= (shape[d] - 1) * dst_strides[d];
        idx[d] = 0;
        src_off += table[0];
      }
    }
  });
}

ir::Tensor gather_axes(ThreadPool& pool, const ir::Tensor& src, const std::vector<int64_t>& shape, const AxisOffsets& axes,
                       const std::string& where) {
  MoveTarget dst(src.dtype(), shape, where);
  gather_axes_into(pool, src, axes, shape, dst, std::vector<int64_t>(shape.size(), 0));
  return dst.finish();
}

ir::Tensor reshape_view(const ir::Tensor& t, std::vector<int64_t> shape) {
  if (t.dtype() == ir::DType::kString) return ir::Tensor::from_strings(std::move(shape), t.strings());
  return ir::Tensor(t.dtype(), std::move(shape), t.storage());
}

ir::Tensor filled_like(const ir::Tensor& value, std::vector<int64_t> shape, const std::string& where) {
  if (value.numel() < 1) throw_bad_input("{} the fill value is empty", where);
  MoveTarget out(value.dtype(), std::move(shape), where);
  out.fill(ElementSource(value), 0);
  return out.finish();
}

}  // namespace scalec::kernels
