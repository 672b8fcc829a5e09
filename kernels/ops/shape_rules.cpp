#include "kernels/ops/shape_rules.h"

#include "ir/error.h"
#include "ir/tensor.h"

namespace scalec::kernels::shapes {

Dims unknown_dims(size_t n) { return Dims(n, unknown_dim()); }

ir::TypeInfo tensor_type(int32_t elem_type, std::optional<Dims> dims) {
  ir::TypeInfo t;
  t.elem_type = elem_type;
  t.shape = std::move(dims);
  return t;
}

ir::TypeInfo like(const ir::TypeInfo& t, std::optional<Dims> dims) { return tensor_type(t.elem_type, std::move(dims)); }

ir::TypeInfo unknown_type() { return ir::TypeInfo{}; }

std::optional<int64_t> rank_of(const ir::TypeInfo& t) {
  if (t.kind != ir::TypeInfo::Kind::kTensor || !t.shape) return std::nullopt;
  return static_cast<int64_t>(t.shape->size());
}

std::optional<int64_t> known_numel(const Dims& dims) {
  int64_t n = 1;
  for (const ir::Dim& d : dims) {
    // Unknown, negative or overflowing: no count (a wrapped product would look small and be folded).
    if (!d.value || *d.value < 0 || __builtin_mul_overflow(n, *d.value, &n)) return std::nullopt;
  }
  return n;
}

std::optional<int64_t> known_numel(const ir::TypeInfo& t) { return t.shape ? known_numel(*t.shape) : std::nullopt; }

bool all_known(const Dims& dims) {
  for (const ir::Dim& d : dims) {
    if (!d.value) return false;
  }
  return true;
}

std::optional<Dims> broadcast(const InferContext& ctx, const std::vector<const ir::TypeInfo*>& inputs) {
  size_t rank = 0;
  for (const ir::TypeInfo* t : inputs) {
    if (!t || !rank_of(*t)) return std::nullopt;
    rank = std::max(rank, t->shape->size());
  }
  Dims out(rank, ir::Dim::of(1));
  std::vector<bool> decided(rank, false);  // a dim other than a known 1 has been seen
  for (const ir::TypeInfo* t : inputs) {
    const Dims& s = *t->shape;
    size_t offset = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      const ir::Dim& d = s[i];
      ir::Dim& o = out[offset + i];
      if (d.value == 1) continue;
      if (!decided[offset + i]) {
        o = d;
        decided[offset + i] = true;
        continue;
      }
      if (o.value && d.value) {
        if (*o.value != *d.value) {
          throw_bad_input("{} inputs cannot be broadcast: dimension {} is {} in one and {} in another", ctx.where(),
                          offset + i, *o.value, *d.value);
        }
      } else if (d.value) {
        o = d;  // a known size wins over a symbolic one (which must then equal it or be 1)
      } else if (!o.value && !(o.param == d.param && !o.param.empty())) {
        o = unknown_dim();  // two different symbols: either could be 1
      }
    }
  }
  return out;
}

std::optional<std::vector<int64_t>> known_ints(const ir::Tensor* t) {
  if (t == nullptr) return std::nullopt;
  if (t->dtype() != ir::DType::kInt64 && t->dtype() != ir::DType::kInt32) return std::nullopt;
  if (t->dtype() == ir::DType::kInt32) {
    auto v = t->values<int32_t>();
    return std::vector<int64_t>(v.begin(), v.end());
  }
  auto v = t->values<int64_t>();
  return std::vector<int64_t>(v.begin(), v.end());
}

ir::Dim dim_from(std::optional<int64_t> v) { return v ? ir::Dim::of(*v) : unknown_dim(); }

std::vector<ir::TypeInfo> same_as_input(const InferContext& ctx, size_t i) { return {ctx.input_type(i)}; }

std::vector<ir::TypeInfo> same_shape_as(const InferContext& ctx, size_t i, int32_t elem_type) {
  return {tensor_type(elem_type, ctx.input_type(i).shape)};
}

}  // namespace scalec::kernels::shapes
