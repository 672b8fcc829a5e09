#include "kernels/cpu/thread_pool.h"

#include <sched.h>

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <exception>

namespace scalec::kernels {

namespace {
// Set while a thread runs a chunk; a parallel_for called from inside one runs inline instead of
// overwriting the pool's current job.
thread_local bool in_parallel_region = false;

// How long a thread spins on the next job (workers) or on the other chunks (the caller) before it
// sleeps on a condition variable. A futex wake-up costs tens of microseconds, longer than many
// kernels of a batch-1 run; spinning is what ONNX Runtime's and OpenMP's pools do too. Batch 1,
// 2 threads: MobileNetV2 91 -> 116-130 samples/s, transformer 96 -> 137-146; batch 32 unchanged.
constexpr auto kSpin = std::chrono::microseconds(100);

// Spins until done() or kSpin passes; true when done() became true.
template <typename Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; ++i) {
    if (done()) return true;
    _mm_pause();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > until) return done();
  }
}

struct RegionGuard {
  bool previous = in_parallel_region;
  RegionGuard() { in_parallel_region = true; }
  ~RegionGuard() { in_parallel_region = previous; }
};
}  // namespace

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? std::max(1, CPU_COUNT(&set))
                                                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Data-parallel ranks on one machine share its cores (mpirun may or may not have bound each rank).
  for (const char* key : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"}) {
    const char* v = std::getenv(key);
    const int ranks = v ? std::atoi(v) : 0;
    if (ranks > 1) {
      const int machine = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      return std::max(1, std::min(cpus, machine / ranks));
    }
  }
  return cpus;
}

ThreadPool::ThreadPool(int threads) {
  int n = threads > 0 ? threads : available_cpus();
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { worker_loop(static_cast<size_t>(i)); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = std::min<int64_t>(threads(), (n + grain - 1) / grain);
  if (chunks <= 1 || workers_.empty() || in_parallel_region) {
    fn(0, n);
    return;
  }
  RegionGuard guard;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    chunks_ = chunks;
    chunk_size_ = (n + chunks - 1) / chunks;
    next_chunk_ = 0;
    pending_ = chunks;
    ++generation_;
  }
  start_cv_.notify_all();
  std::exception_ptr error;
  // The caller works too, taking chunks until none are left.
  for (;;) {
    int64_t c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_chunk_ >= chunks_) break;
      c = next_chunk_++;
    }
    try {
      fn(c * chunk_size_, std::min(n, (c + 1) * chunk_size_));
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (--pending_ == 0) done_cv_.notify_all();
  }
  spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
  if (!error && error_) error = error_;
  error_ = nullptr;
  if (error) std::rethrow_exception(error);
}

void ThreadPool::worker_loop(size_t) {
  uint64_t seen = 0;
  for (;;) {
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
    std::unique_lock<std::mutex> lock(mu_);
    start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;  // a job whose chunks are all taken already leaves nothing to do below
    while (job_ != nullptr && next_chunk_ < chunks_) {
      int64_t c = next_chunk_++;
      const auto* fn = job_;
      int64_t n = job_n_, size = chunk_size_;
      lock.unlock();
      try {
        RegionGuard guard;
        (*fn)(c * size, std::min(n, (c + 1) * size));
      } catch (...) {
        lock.lock();
        if (!error_) error_ = std::current_exception();
        lock.unlock();
      }
      lock.lock();
      if (--pending_ == 0) done_cv_.notify_all();
    }
  }
}

}  // namespace scalec::kernels
