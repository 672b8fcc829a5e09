#pragma once
// GradientReducer: sums the gradients of data-parallel ranks as backward produces them, as PyTorch
// DDP does. Parameters are grouped into buckets in reverse graph order (backward reaches the last
// layers first): the first bucket about 1 MB so communication starts early, the rest about 25 MB.
// A bucket's non-blocking all-reduce starts once all its gradients are in and every earlier bucket
// has started, so every rank starts the same collectives in the same order.
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "ir/tensor.h"
#include "kernels/comm/communicator.h"

namespace scalec::distill {

class GradientReducer {
 public:
  /// `params`: the trained tensors (their shapes and dtypes fix the buckets).
  GradientReducer(kernels::comm::Communicator& comm, const std::vector<const ir::Tensor*>& params,
                  size_t first_bucket_bytes = size_t{1} << 20, size_t bucket_bytes = size_t{25} << 20);
  ~GradientReducer();

  /// Starts a step: no gradient is in yet.
  void begin_step();
  /// Parameter k's gradient of this rank is complete (called from backward).
  void ready(size_t k, const ir::Tensor& grad);
  /// Takes this rank's gradients (an empty Tensor where none reached a parameter), sums every one over
  /// the ranks and writes the sums back; a gradient no rank produced stays empty.
  void finish(std::vector<ir::Tensor>& grads);

  size_t buckets() const { return buckets_.size(); }
  /// Seconds finish() spent waiting for collectives (communication not hidden behind backward).
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Bucket {
    std::vector<size_t> params;     // indices into the parameter list
    std::vector<size_t> offsets;    // each parameter's first element in `data`
    std::vector<float> data;        // gradients, then one presence flag per parameter
    size_t missing = 0;
    std::unique_ptr<kernels::comm::PendingReduce> pending;
  };
  void start_ready_buckets();
  void copy_in(size_t k, const ir::Tensor* grad);

  kernels::comm::Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, size_t>> where_;  // parameter -> (bucket, slot), bucket = npos for others
  std::vector<size_t> others_;                     // non-float parameters: summed one by one in finish()
  std::vector<bool> in_;
  std::vector<std::vector<int64_t>> shapes_;       // parameter shapes: a rank without a gradient adds zeros
  size_t next_start_ = 0;
  double wait_seconds_ = 0;
};

}  // namespace scalec::distill
