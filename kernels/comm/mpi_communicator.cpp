// The MPI backend: MPI_COMM_WORLD of the job mpirun started. Every collective is non-blocking
// underneath and waited on with a watchdog (SCALEC_COMM_TIMEOUT seconds, default 300), so a rank
// that never arrives ends the job with an error instead of a hang; MPI errors return (not abort)
// and become Errors naming the call.
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <thread>

#include "ir/error.h"
#include "kernels/comm/backends.h"

namespace scalec::kernels::comm {

namespace {

bool g_initialized_here = false;

double timeout_seconds() {
  const char* v = std::getenv("SCALEC_COMM_TIMEOUT");
  const double t = v ? std::atof(v) : 0.0;
  return t > 0 ? t : 300.0;
}

void check(int rc, const char* call, int rank) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(ExitCode::kInternal, fmt::format("rank {}: {} failed: {}", rank, call, std::string(text, static_cast<size_t>(len))));
}

int count_of(size_t n, int rank) {
  if (n > static_cast<size_t>(INT_MAX)) throw Error(ExitCode::kInternal, fmt::format("rank {}: a collective of {} elements is too large for MPI", rank, n));
  return static_cast<int>(n);
}

// Waits for `req`, polling MPI (which progresses the collective) with a short sleep; after the
// timeout the other ranks are presumed dead or stuck.
void wait_watched(MPI_Request& req, const char* what, int rank) {
  const auto start = std::chrono::steady_clock::now();
  const double limit = timeout_seconds();
  int spins = 0;
  for (;;) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what, rank);
    if (done) return;
    if (++spins > 64) std::this_thread::sleep_for(std::chrono::microseconds(spins > 4096 ? 1000 : 50));
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > limit) {
      throw Error(ExitCode::kInternal,
                  fmt::format("rank {}: {} waited more than {:.0f} s for the other ranks (SCALEC_COMM_TIMEOUT): one of them "
                              "died or hangs", rank, what, limit));
    }
  }
}

class MpiPending final : public PendingReduce {
 public:
  MpiPending(MPI_Request r, int rank) : req_(r), rank_(rank) {}
  ~MpiPending() override {
    if (req_ != MPI_REQUEST_NULL) {
      try {
        wait_watched(req_, "all-reduce", rank_);
      } catch (...) {
      }
    }
  }
  bool test() override {
    if (req_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    check(MPI_Test(&req_, &done, MPI_STATUS_IGNORE), "all-reduce", rank_);
    return done != 0;
  }
  void wait() override {
    if (req_ != MPI_REQUEST_NULL) wait_watched(req_, "all-reduce", rank_);
  }

 private:
  MPI_Request req_;
  int rank_;
};

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "MPI_Comm_split_type", rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(std::span<float> d) override { reduce(d.data(), d.size(), MPI_FLOAT); }
  void all_reduce_sum(std::span<double> d) override { reduce(d.data(), d.size(), MPI_DOUBLE); }
  void all_reduce_sum(std::span<int64_t> d) override { reduce(d.data(), d.size(), MPI_INT64_T); }
  void all_reduce_max(std::span<double> d) override { reduce(d.data(), d.size(), MPI_DOUBLE, MPI_MAX); }

  std::unique_ptr<PendingReduce> start_all_reduce_sum(std::span<float> d) override {
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, d.data(), count_of(d.size(), rank_), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req),
          "MPI_Iallreduce", rank_);
    return std::make_unique<MpiPending>(req, rank_);
  }

  void broadcast(std::span<std::byte> d, int root) override {
    MPI_Request req;
    check(MPI_Ibcast(d.data(), count_of(d.size(), rank_), MPI_BYTE, root, MPI_COMM_WORLD, &req), "MPI_Ibcast", rank_);
    wait_watched(req, "broadcast", rank_);
  }

  void barrier(bool watched) override {
    if (!watched) {
      check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier", rank_);
      return;
    }
    MPI_Request req;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier", rank_);
    wait_watched(req, "barrier", rank_);
  }

  [[noreturn]] void abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  void reduce(void* data, size_t n, MPI_Datatype type, MPI_Op op = MPI_SUM) {
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, data, count_of(n, rank_), type, op, MPI_COMM_WORLD, &req), "MPI_Iallreduce", rank_);
    wait_watched(req, "all-reduce", rank_);
  }
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // Collectives are called from the main thread only; the kernels' own threads never call MPI.
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      throw Error(ExitCode::kInternal, "MPI_Init_thread failed");
    }
    g_initialized_here = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  return std::make_unique<MpiWorld>();
}

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_initialized_here && !finalized) MPI_Finalize();
}

bool mpi_compiled() { return true; }

}  // namespace scalec::kernels::comm
