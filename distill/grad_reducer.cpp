#include "distill/grad_reducer.h"

#include <algorithm>

#include "ir/error.h"

namespace scalec::distill {

namespace {
constexpr size_t kNone = static_cast<size_t>(-1);
}

GradientReducer::GradientReducer(kernels::comm::Communicator& comm, const std::vector<const ir::Tensor*>& params,
                                 size_t first_bucket_bytes, size_t bucket_bytes)
    : comm_(comm), where_(params.size(), {kNone, 0}), in_(params.size(), false) {
  for (const ir::Tensor* p : params) shapes_.push_back(p->shape());
  size_t limit = first_bucket_bytes, bytes = 0;
  for (size_t k = params.size(); k-- > 0;) {
    if (params[k]->dtype() != ir::DType::kFloat) {
      others_.push_back(k);
      continue;
    }
    const size_t n = static_cast<size_t>(params[k]->numel());
    if (buckets_.empty() || (bytes > 0 && bytes + 4 * n > limit)) {
      if (!buckets_.empty()) limit = bucket_bytes;
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    where_[k] = {buckets_.size() - 1, b.params.size()};
    b.params.push_back(k);
    b.offsets.push_back(bytes / 4);
    bytes += 4 * n;
  }
  for (Bucket& b : buckets_) {
    const size_t elements = b.offsets.back() + static_cast<size_t>(params[b.params.back()]->numel());
    b.data.assign(elements + b.params.size(), 0.0f);
  }
}

GradientReducer::~GradientReducer() = default;

void GradientReducer::begin_step() {
  for (Bucket& b : buckets_) {
    b.missing = b.params.size();
    b.pending.reset();
  }
  std::fill(in_.begin(), in_.end(), false);
  next_start_ = 0;
}

void GradientReducer::copy_in(size_t k, const ir::Tensor* grad) {
  const auto [bi, slot] = where_[k];
  Bucket& b = buckets_[bi];
  float* dst = b.data.data() + b.offsets[slot];
  const size_t flags = b.data.size() - b.params.size();
  if (grad && grad->dtype() == ir::DType::kFloat) {
    auto src = grad->values<float>();
    std::copy(src.begin(), src.end(), dst);
    b.data[flags + slot] = 1.0f;
  } else {
    const size_t n = (slot + 1 < b.offsets.size() ? b.offsets[slot + 1] : flags) - b.offsets[slot];
    std::fill(dst, dst + n, 0.0f);
    b.data[flags + slot] = 0.0f;
  }
  in_[k] = true;
  --b.missing;
}

void GradientReducer::ready(size_t k, const ir::Tensor& grad) {
  if (k >= where_.size() || where_[k].first == kNone || in_[k]) return;
  copy_in(k, &grad);
  start_ready_buckets();
  for (size_t i = 0; i < next_start_; ++i) buckets_[i].pending->test();  // MPI progresses inside MPI calls
}

void GradientReducer::start_ready_buckets() {
  while (next_start_ < buckets_.size() && buckets_[next_start_].missing == 0) {
    Bucket& b = buckets_[next_start_++];
    b.pending = comm_.start_all_reduce_sum(std::span<float>(b.data));
  }
}

void GradientReducer::finish(std::vector<ir::Tensor>& grads) {
  for (size_t k = 0; k < where_.size(); ++k) {
    if (where_[k].first != kNone && !in_[k]) copy_in(k, grads[k].dtype() == ir::DType::kUndefined ? nullptr : &grads[k]);
  }
  start_ready_buckets();
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) b.pending->wait();
  for (size_t k : others_) {  // double parameters (rare): presence first, then the sum
    double present = grads[k].dtype() == ir::DType::kUndefined ? 0.0 : 1.0;
    comm_.all_reduce_sum(std::span<double>(&present, 1));
    if (present == 0) continue;
    if (grads[k].dtype() == ir::DType::kUndefined) grads[k] = ir::Tensor(ir::DType::kDouble, shapes_[k]);  // zeros
    kernels::comm::all_reduce_sum(comm_, grads[k]);
  }
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (Bucket& b : buckets_) {
    const size_t flags = b.data.size() - b.params.size();
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      ir::Tensor& g = grads[b.params[slot]];
      if (b.data[flags + slot] == 0.0f) {
        g = ir::Tensor();
        continue;
      }
      const size_t n = (slot + 1 < b.offsets.size() ? b.offsets[slot + 1] : flags) - b.offsets[slot];
      if (g.dtype() == ir::DType::kUndefined) g = ir::Tensor(ir::DType::kFloat, shapes_[b.params[slot]]);
      if (g.dtype() != ir::DType::kFloat || static_cast<size_t>(g.numel()) != n) {
        throw_internal("gradient {} has {} elements where its bucket holds {}", b.params[slot], g.numel(), n);
      }
      const float* src = b.data.data() + b.offsets[slot];
      auto dst = g.mutable_values<float>();
      std::copy(src, src + n, dst.begin());
    }
  }
}

}  // namespace scalec::distill
