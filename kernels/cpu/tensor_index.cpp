#include "kernels/cpu/tensor_index.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/tensor_copy.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

int64_t checked_index(int64_t i, int64_t dim, const std::string& where) {
  if (i < -dim || i >= dim) throw_bad_input("{} index {} is out of range for a dimension of {}", where, i, dim);
  return i < 0 ? i + dim : i;
}

// Strides of `data` with the entry of `axis` zeroed: the offset of every coordinate but the indexed one.
std::vector<int64_t> strides_without_axis(const std::vector<int64_t>& shape, int64_t axis) {
  std::vector<int64_t> s = contiguous_strides(shape);
  s[static_cast<size_t>(axis)] = 0;
  return s;
}

void check_same_rank(const Tensor& data, const std::vector<int64_t>& indices_shape, int64_t axis, const std::string& where) {
  if (static_cast<int64_t>(indices_shape.size()) != data.rank()) {
    throw_bad_input("{} indices have rank {} but data has rank {}", where, indices_shape.size(), data.rank());
  }
  for (size_t d = 0; d < indices_shape.size(); ++d) {
    if (static_cast<int64_t>(d) != axis && indices_shape[d] > data.shape()[d]) {
      throw_bad_input("{} indices shape {} exceeds data shape {} outside the axis", where, ir::shape_to_string(indices_shape),
                      ir::shape_to_string(data.shape()));
    }
  }
}

// A run of `run` elements of updates starting at `src` combined into out starting at `dst`.
struct Move {
  int64_t dst;
  int64_t src;
};

// Applies the moves in order (so the last of duplicate indices wins for "none").
Tensor scatter_apply(const Tensor& data, const Tensor& updates, const std::vector<Move>& moves, int64_t run,
                     ScatterReduction reduction, const std::string& where) {
  if (updates.dtype() != data.dtype()) {
    throw_bad_input("{} updates are {} but data is {}", where, ir::dtype_name(updates.dtype()), ir::dtype_name(data.dtype()));
  }
  MoveTarget out(data, where);
  const ElementSource src(updates);
  if (reduction == ScatterReduction::kNone) {
    for (const Move& m : moves) {
      for (int64_t k = 0; k < run; ++k) out.copy(m.dst + k, src, m.src + k);
    }
    return out.finish();
  }
  dispatch_numeric(data.dtype(), where, [&](auto t) {
    using T = decltype(t);
    T* o = reinterpret_cast<T*>(out.bytes());
    const T* u = updates.values<T>().data();
    for (const Move& m : moves) {
      for (int64_t k = 0; k < run; ++k) {
        T& x = o[m.dst + k];
        const T y = u[m.src + k];
        switch (reduction) {
          case ScatterReduction::kAdd: x = static_cast<T>(x + y); break;
          case ScatterReduction::kMul: x = static_cast<T>(x * y); break;
          case ScatterReduction::kMax: x = std::max(x, y); break;
          case ScatterReduction::kMin: x = std::min(x, y); break;
          case ScatterReduction::kNone: break;
        }
      }
    }
  });
  return out.finish();
}

}  // namespace

ScatterReduction parse_scatter_reduction(const std::string& name, const std::string& where) {
  if (name == "none") return ScatterReduction::kNone;
  if (name == "add") return ScatterReduction::kAdd;
  if (name == "mul") return ScatterReduction::kMul;
  if (name == "max") return ScatterReduction::kMax;
  if (name == "min") return ScatterReduction::kMin;
  throw_bad_input("{} unknown reduction '{}' (expected none, add, mul, max or min)", where, name);
}

Tensor gather_elements_cpu(ThreadPool& pool, const Tensor& data, const std::vector<int64_t>& indices,
                           const std::vector<int64_t>& indices_shape, int64_t axis, const std::string& where) {
  check_same_rank(data, indices_shape, axis, where);
  MoveTarget out(data.dtype(), indices_shape, where);
  const ElementSource src(data);
  const int64_t dim = data.shape()[static_cast<size_t>(axis)];
  const int64_t axis_stride = contiguous_strides(data.shape())[static_cast<size_t>(axis)];
  const std::vector<int64_t> strides[1] = {strides_without_axis(data.shape(), axis)};
  pool.parallel_for(shape_numel(indices_shape), kCopyGrain, [&](int64_t lo, int64_t hi) {
    for_each_broadcast<1>(indices_shape, strides, lo, hi, [&](int64_t i, const int64_t* off) {
      out.copy(i, src, off[0] + checked_index(indices[static_cast<size_t>(i)], dim, where) * axis_stride);
    });
  });
  return out.finish();
}

Tensor gather_nd_cpu(const Tensor& data, const std::vector<int64_t>& indices, const std::vector<int64_t>& indices_shape,
                     int64_t batch_dims, const std::string& where) {
  const auto& ds = data.shape();
  const int64_t q = static_cast<int64_t>(indices_shape.size());
  if (q < 1 || batch_dims < 0 || batch_dims >= std::min<int64_t>(q, data.rank())) {
    throw_bad_input("{} batch_dims {} must be below the ranks of data ({}) and indices ({})", where, batch_dims, data.rank(), q);
  }
  const int64_t k = indices_shape.back();
  if (k < 1 || batch_dims + k > data.rank()) {
    throw_bad_input("{} index tuples of length {} do not fit data of rank {} after {} batch dims", where, k, data.rank(), batch_dims);
  }
  int64_t batches = 1;
  for (int64_t d = 0; d < batch_dims; ++d) {
    if (indices_shape[static_cast<size_t>(d)] != ds[static_cast<size_t>(d)]) {
      throw_bad_input("{} batch dims of indices {} and data {} differ", where, ir::shape_to_string(indices_shape), ir::shape_to_string(ds));
    }
    batches *= ds[static_cast<size_t>(d)];
  }
  std::vector<int64_t> out_shape(indices_shape.begin(), indices_shape.end() - 1);
  out_shape.insert(out_shape.end(), ds.begin() + batch_dims + k, ds.end());
  const std::vector<int64_t> strides = contiguous_strides(ds);
  const int64_t slice = batch_dims + k < data.rank() ? strides[static_cast<size_t>(batch_dims + k - 1)] : 1;
  const int64_t batch_stride = batch_dims > 0 ? strides[static_cast<size_t>(batch_dims - 1)] : shape_numel(ds);
  const int64_t tuples = shape_numel(indices_shape) / k;
  const int64_t per_batch = tuples / std::max<int64_t>(batches, 1);
  MoveTarget out(data.dtype(), out_shape, where);
  const ElementSource src(data);
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = (t / std::max<int64_t>(per_batch, 1)) * batch_stride;
    for (int64_t j = 0; j < k; ++j) {
      const auto d = static_cast<size_t>(batch_dims + j);
      off += checked_index(indices[static_cast<size_t>(t * k + j)], ds[d], where) * strides[d];
    }
    for (int64_t e = 0; e < slice; ++e) out.copy(t * slice + e, src, off + e);
  }
  return out.finish();
}

Tensor scatter_elements_cpu(const Tensor& data, const std::vector<int64_t>& indices, const std::vector<int64_t>& indices_shape,
                            const Tensor& updates, int64_t axis, ScatterReduction reduction, const std::string& where) {
  check_same_rank(data, indices_shape, axis, where);
  if (updates.shape() != indices_shape) {
    throw_bad_input("{} updates shape {} differs from indices shape {}", where, ir::shape_to_string(updates.shape()),
                    ir::shape_to_string(indices_shape));
  }
  const int64_t dim = data.shape()[static_cast<size_t>(axis)];
  const int64_t axis_stride = contiguous_strides(data.shape())[static_cast<size_t>(axis)];
  const std::vector<int64_t> strides[1] = {strides_without_axis(data.shape(), axis)};
  std::vector<Move> moves(indices.size());
  for_each_broadcast<1>(indices_shape, strides, 0, shape_numel(indices_shape), [&](int64_t i, const int64_t* off) {
    moves[static_cast<size_t>(i)] = {off[0] + checked_index(indices[static_cast<size_t>(i)], dim, where) * axis_stride, i};
  });
  return scatter_apply(data, updates, moves, 1, reduction, where);
}

Tensor scatter_nd_cpu(const Tensor& data, const std::vector<int64_t>& indices, const std::vector<int64_t>& indices_shape,
                      const Tensor& updates, ScatterReduction reduction, const std::string& where) {
  const auto& ds = data.shape();
  if (indices_shape.empty() || indices_shape.back() < 1 || indices_shape.back() > data.rank()) {
    throw_bad_input("{} indices shape {} does not address data of rank {}", where, ir::shape_to_string(indices_shape), data.rank());
  }
  const int64_t k = indices_shape.back();
  std::vector<int64_t> want(indices_shape.begin(), indices_shape.end() - 1);
  want.insert(want.end(), ds.begin() + k, ds.end());
  if (updates.shape() != want) {
    throw_bad_input("{} updates shape {} should be {}", where, ir::shape_to_string(updates.shape()), ir::shape_to_string(want));
  }
  const std::vector<int64_t> strides = contiguous_strides(ds);
  const int64_t slice = k < data.rank() ? strides[static_cast<size_t>(k - 1)] : 1;
  const int64_t tuples = shape_numel(indices_shape) / k;
  std::vector<Move> moves(static_cast<size_t>(tuples));
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; ++j) {
      off += checked_index(indices[static_cast<size_t>(t * k + j)], ds[static_cast<size_t>(j)], where) * strides[static_cast<size_t>(j)];
    }
    moves[static_cast<size_t>(t)] = {off, t * slice};
  }
  return scatter_apply(data, updates, moves, slice, reduction, where);
}

Tensor nonzero_cpu(const Tensor& x, const std::string& where) {
  const int64_t n = x.numel();
  std::vector<int64_t> hits;
  auto scan = [&](auto is_nonzero) {
    for (int64_t i = 0; i < n; ++i) {
      if (is_nonzero(i)) hits.push_back(i);
    }
  };
  switch (x.dtype()) {
    case ir::DType::kFloat16:
    case ir::DType::kBFloat16: {
      const uint16_t* p = x.values<uint16_t>().data();
      scan([&](int64_t i) { return (p[i] & 0x7fff) != 0; });  // +0 and -0 are zero
      break;
    }
    case ir::DType::kString: scan([&](int64_t i) { return !x.strings()[static_cast<size_t>(i)].empty(); }); break;
    default:
      dispatch_numeric(x.dtype(), where, [&](auto t) {
        using T = decltype(t);
        const T* p = x.values<T>().data();
        scan([&](int64_t i) { return p[i] != T(0); });
      });
  }
  const int64_t rank = x.rank(), count = static_cast<int64_t>(hits.size());
  Tensor out(ir::DType::kInt64, {rank, count});
  int64_t* o = out.mutable_values<int64_t>().data();
  for (int64_t h = 0; h < count; ++h) {
    int64_t rem = hits[static_cast<size_t>(h)];
    for (int64_t d = rank; d-- > 0;) {
      o[d * count + h] = rem % x.shape()[static_cast<size_t>(d)];
      rem /= x.shape()[static_cast<size_t>(d)];
    }
  }
  return out;
}

}  // namespace scalec::kernels
