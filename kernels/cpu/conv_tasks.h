#pragma once
// How Conv and ConvTranspose spread their (image, group) products over the thread pool.
#include <cstdint>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

/// Calls run(task, scratch, parallel_gemm) for task in [0, tasks), where scratch holds
/// `scratch_elems` elements private to the calling thread. With at least as many tasks as threads
/// (or tiny products) the tasks run in parallel with single-threaded GEMMs; otherwise they run one
/// after another and each GEMM is split over the pool (the pool does not nest).
template <typename T, typename Run>
void conv_run_tasks(ThreadPool& pool, int64_t tasks, int64_t task_macs, int64_t scratch_elems, Run&& run) {
  if (tasks >= pool.threads() || task_macs < kGemmParallelMacs) {
    pool.parallel_for(tasks, 1, [&](int64_t lo, int64_t hi) {
      std::vector<T> scratch(static_cast<size_t>(scratch_elems));
      for (int64_t t = lo; t < hi; ++t) run(t, scratch.data(), false);
    });
    return;
  }
  std::vector<T> scratch(static_cast<size_t>(scratch_elems));
  for (int64_t t = 0; t < tasks; ++t) run(t, scratch.data(), true);
}

}  // namespace scalec::kernels
