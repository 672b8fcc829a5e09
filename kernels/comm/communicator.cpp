#include "kernels/comm/communicator.h"

#include <cstdlib>
#include <mutex>

#include "ir/error.h"
#include "kernels/comm/backends.h"

namespace scalec::kernels::comm {

namespace {

// One rank: every collective is the identity.
class SingleRank final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(std::span<float>) override {}
  void all_reduce_sum(std::span<double>) override {}
  void all_reduce_sum(std::span<int64_t>) override {}
  void all_reduce_max(std::span<double>) override {}
  std::unique_ptr<PendingReduce> start_all_reduce_sum(std::span<float>) override {
    struct Done final : PendingReduce {
      bool test() override { return true; }
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(std::span<std::byte>, int) override {}
  void barrier(bool) override {}
  [[noreturn]] void abort(int exit_code) override { std::exit(exit_code); }
};

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> w;
  return w;
}

// The size mpirun (Open MPI, or a PMI launcher) gave this process; 0 when none did.
int launcher_size() {
  for (const char* key : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    if (const char* v = std::getenv(key)) return std::atoi(v);
  }
  return 0;
}

}  // namespace

std::unique_ptr<Communicator> make_single_rank() { return std::make_unique<SingleRank>(); }

bool launched_with_ranks() { return launcher_size() > 1; }

Communicator& world() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::unique_ptr<Communicator> c;
    if (launcher_size() > 0) {
      c = make_mpi();
      if (!c && launcher_size() > 1) {
        throw Error(ExitCode::kUsage, "started by mpirun with several ranks, but this scalec was built without MPI");
      }
    }
    world_slot() = c ? std::move(c) : make_single_rank();
  });
  return *world_slot();
}

void finalize_world() {
  if (world_slot() && world_slot()->backend() == "mpi") finalize_mpi();
}

namespace {
thread_local Communicator* t_sync_bn = nullptr;
}

SyncBatchNormScope::SyncBatchNormScope(Communicator* c) : previous_(t_sync_bn) {
  t_sync_bn = c && c->size() > 1 ? c : nullptr;
}
SyncBatchNormScope::~SyncBatchNormScope() { t_sync_bn = previous_; }
Communicator* sync_batch_norm_comm() { return t_sync_bn; }

void all_reduce_sum(Communicator& c, ir::Tensor& t) {
  if (c.size() == 1) return;
  if (t.dtype() == ir::DType::kFloat) c.all_reduce_sum(t.mutable_values<float>());
  else if (t.dtype() == ir::DType::kDouble) c.all_reduce_sum(t.mutable_values<double>());
  else if (t.dtype() == ir::DType::kInt64) c.all_reduce_sum(t.mutable_values<int64_t>());
  else throw_internal("all-reduce of a {} tensor", ir::dtype_name(t.dtype()));
}

void all_reduce_mean(Communicator& c, ir::Tensor& t) {
  if (c.size() == 1) return;
  all_reduce_sum(c, t);
  const double n = c.size();
  if (t.dtype() == ir::DType::kFloat) {
    for (float& x : t.mutable_values<float>()) x = static_cast<float>(x / n);
  } else if (t.dtype() == ir::DType::kDouble) {
    for (double& x : t.mutable_values<double>()) x /= n;
  } else {
    throw_internal("all-reduce mean of a {} tensor", ir::dtype_name(t.dtype()));
  }
}

void broadcast(Communicator& c, ir::Tensor& t, int root) {
  if (c.size() == 1) return;
  c.broadcast(t.mutable_bytes(), root);
}

void broadcast_bytes(Communicator& c, std::string& bytes, int root) {
  if (c.size() == 1) return;
  int64_t size = c.rank() == root ? static_cast<int64_t>(bytes.size()) : 0;
  c.all_reduce_sum(std::span<int64_t>(&size, 1));
  bytes.resize(static_cast<size_t>(size));
  c.broadcast(std::as_writable_bytes(std::span<char>(bytes.data(), bytes.size())), root);
}

}  // namespace scalec::kernels::comm
