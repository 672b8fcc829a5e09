#pragma once
// A fixed pool of worker threads for data-parallel loops in CPU kernels.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace scalec::kernels {

/// Runs parallel_for loops on `threads` threads (the caller counts as one of them).
class ThreadPool {
 public:
  /// threads <= 0 means the CPUs this process may use (affinity and container limits).
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  /// Calls fn(begin, end) over [0, n) split into contiguous chunks of at least `grain` items.
  /// Chunks are fixed by n, grain and the thread count, so results are deterministic. Called from
  /// inside a running chunk (nested), it runs the whole range inline on the calling thread.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(size_t index);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t chunks_ = 0;
  int64_t chunk_size_ = 0;
  int64_t next_chunk_ = 0;
  std::atomic<int64_t> pending_ = 0;      ///< chunks of the current job not finished yet
  std::atomic<uint64_t> generation_ = 0;  ///< bumped per job; workers spin on it before sleeping
  bool stop_ = false;
  std::exception_ptr error_;  ///< first exception a worker threw in the current job
};

/// The CPUs this process may run on (sched_getaffinity), at least 1.
int available_cpus();

}  // namespace scalec::kernels
