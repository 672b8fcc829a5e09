// MaxUnpool: scatters pooled values back to the positions MaxPool's Indices name.
#include <cstring>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/pool.h"

namespace scalec::kernels {

ir::Tensor max_unpool_forward_cpu(const ir::Tensor& x, const ir::Tensor& indices, const std::vector<int64_t>& y_shape,
                                  const std::string& where) {
  if (indices.dtype() != ir::DType::kInt64) throw_bad_input("{} indices must be int64", where);
  if (indices.shape() != x.shape()) {
    throw_bad_input("{} indices have shape {} but X has shape {}", where, ir::shape_to_string(indices.shape()),
                    ir::shape_to_string(x.shape()));
  }
  const int bits = ir::dtype_bits(x.dtype());
  if (x.dtype() == ir::DType::kString || bits % 8 != 0 || bits == 0) {
    throw_bad_input("{} does not support element type {}", where, ir::dtype_name(x.dtype()));
  }
  ir::Tensor y(x.dtype(), y_shape);
  const auto elem = static_cast<size_t>(bits / 8);
  const int64_t n = shape_numel(y_shape);
  const int64_t* pi = indices.values<int64_t>().data();
  const std::byte* px = x.bytes().data();
  std::byte* py = y.mutable_bytes().data();
  // Sequential: with repeated indices the last value wins, the same way every run.
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (pi[i] < 0 || pi[i] >= n) {
      throw_bad_input("{} index {} is outside the output of {} elements", where, pi[i], n);
    }
    std::memcpy(py + static_cast<size_t>(pi[i]) * elem, px + static_cast<size_t>(i) * elem, elem);
  }
  return y;
}

}  // namespace scalec::kernels
