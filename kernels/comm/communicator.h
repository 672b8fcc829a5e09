#pragma once
// Communicator: the collectives data-parallel training needs (all-reduce, broadcast, barrier) across
// the ranks of a job. Backends: MPI for CPU tensors (ranks started by mpirun) and a single rank.
// No MPI type appears here: callers stay backend-neutral (DESIGN.md, "Distributed").
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "ir/tensor.h"

namespace scalec::kernels::comm {

/// A sum started by Communicator::start_all_reduce_sum; wait() finishes it (the data is then the sum).
class PendingReduce {
 public:
  virtual ~PendingReduce() = default;
  /// True once the sum is done; drives the collective's progress (MPI progresses inside MPI calls).
  virtual bool test() = 0;
  /// Blocks until the sum is done (watchdog: Error naming the collective after the timeout).
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Ranks on this machine (threads per rank default to its cores divided by these).
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;

  /// Element-wise sums over all ranks, in place; every rank gets the same bytes.
  virtual void all_reduce_sum(std::span<float> data) = 0;
  virtual void all_reduce_sum(std::span<double> data) = 0;
  virtual void all_reduce_sum(std::span<int64_t> data) = 0;
  /// Element-wise maxima over all ranks, in place (a minimum is the maximum of the negations).
  virtual void all_reduce_max(std::span<double> data) = 0;
  /// Starts a sum of `data` (which must stay alive and untouched until wait()). Every rank starts
  /// the same sums in the same order.
  virtual std::unique_ptr<PendingReduce> start_all_reduce_sum(std::span<float> data) = 0;
  /// Copies `root`'s bytes to every rank (all ranks pass buffers of the same size).
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  /// Waits for every rank. `watched` = false: no watchdog (a rank known to be busy for long, such
  /// as rank 0 filling a teacher cache).
  virtual void barrier(bool watched = true) = 0;
  /// Ends every rank of the job with `exit_code` (after this rank's error has been printed).
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

/// The process's communicator: MPI when mpirun started it (and scalec was built with MPI), else a
/// single rank. Created on first use; finalize_world() ends it.
Communicator& world();
/// Ends the MPI job cleanly at a normal exit (no-op for a single rank).
void finalize_world();
/// True when this scalec was built with MPI (mpirun can start data-parallel ranks).
bool mpi_compiled();
/// True when the process was started by mpirun with more than one rank (world() not yet needed).
bool launched_with_ranks();

/// Sums a float or double tensor over all ranks, in place.
void all_reduce_sum(Communicator& c, ir::Tensor& t);
/// Averages a float or double tensor over all ranks, in place (the sum divided by the ranks).
void all_reduce_mean(Communicator& c, ir::Tensor& t);
/// Copies `root`'s tensor to every rank; the others must hold a tensor of the same dtype and shape.
void broadcast(Communicator& c, ir::Tensor& t, int root);
/// Copies `root`'s bytes to every rank; the others' `bytes` are replaced (any size).
void broadcast_bytes(Communicator& c, std::string& bytes, int root);

/// While alive, BatchNormalization in training runs on this thread uses the batch statistics of all
/// of `c`'s ranks together (synchronized BatchNorm, forward and backward); nullptr or one rank: off.
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(Communicator* c);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

 private:
  Communicator* previous_;
};
/// The communicator of the innermost SyncBatchNormScope on this thread (nullptr: none).
Communicator* sync_batch_norm_comm();

/// The single-rank backend (tests; world() without mpirun).
std::unique_ptr<Communicator> make_single_rank();

}  // namespace scalec::kernels::comm
