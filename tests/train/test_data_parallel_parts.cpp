// The pieces of data-parallel training that one process can check: how a global batch splits over
// ranks, Autodiff reporting each gradient as soon as it is complete (where buckets start their
// all-reduce), and the GradientReducer's buckets. The ranks themselves run in tests/py/test_data_parallel.py.
#include <catch2/catch.hpp>

#include <map>

#include "distill/grad_reducer.h"
#include "distill/trainer.h"
#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "kernels/exec/autodiff.h"
#include "onnx_io/model_io.h"
#include "support/test_support.h"
#include "train/digits_data.h"

using namespace scalec;

namespace {

// A stand-in for N identical ranks: every sum is N times this rank's values.
class IdenticalRanks final : public kernels::comm::Communicator {
 public:
  explicit IdenticalRanks(int n) : n_(n) {}
  int rank() const override { return 0; }
  int size() const override { return n_; }
  int local_size() const override { return n_; }
  std::string backend() const override { return "test"; }
  void all_reduce_sum(std::span<float> d) override { scale(d); }
  void all_reduce_sum(std::span<double> d) override { scale(d); }
  void all_reduce_sum(std::span<int64_t> d) override {
    for (int64_t& x : d) x = static_cast<int64_t>(static_cast<uint64_t>(x) * static_cast<uint64_t>(n_));  // hashes wrap
  }
  void all_reduce_max(std::span<double>) override {}
  std::unique_ptr<kernels::comm::PendingReduce> start_all_reduce_sum(std::span<float> d) override {
    ++started;
    scale(d);
    struct Done final : kernels::comm::PendingReduce {
      bool test() override { return true; }
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(std::span<std::byte>, int) override {}
  void barrier(bool) override {}
  [[noreturn]] void abort(int) override { throw std::runtime_error("abort"); }
  int started = 0;

 private:
  template <typename T>
  void scale(std::span<T> d) const {
    for (T& x : d) x = static_cast<T>(x * static_cast<T>(n_));
  }
  int n_;
};

ir::Tensor filled(std::vector<int64_t> shape, float v) {
  ir::Tensor t(ir::DType::kFloat, std::move(shape));
  for (float& x : t.mutable_values<float>()) x = v;
  return t;
}

}  // namespace

TEST_CASE("a global batch splits over ranks in rank order, as evenly as possible", "[train][data_parallel]") {
  CHECK(distill::rank_share(4, 0, 3) == std::pair<int64_t, int64_t>{0, 2});
  CHECK(distill::rank_share(4, 1, 3) == std::pair<int64_t, int64_t>{2, 1});
  CHECK(distill::rank_share(4, 2, 3) == std::pair<int64_t, int64_t>{3, 1});
  CHECK(distill::rank_share(2, 2, 3) == std::pair<int64_t, int64_t>{2, 0});  // fewer samples than ranks
  for (int64_t n : {1, 7, 30, 31}) {
    for (int ranks : {1, 2, 3, 5}) {
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        auto [first, count] = distill::rank_share(n, r, ranks);
        CHECK(first == next);
        CHECK((count == n / ranks || count == n / ranks + 1));
        next = first + count;
      }
      CHECK(next == n);
    }
  }
}

TEST_CASE("Autodiff reports every parameter's gradient once, complete, while backward runs", "[train][data_parallel]") {
  ir::Model model = onnx_io::load_model((test::source_dir() / "tests" / "reference" / "cnn_digits_init.onnx").string());
  std::vector<const ir::Value*> wrt;
  for (const ir::Value* v : model.graph->initializers) wrt.push_back(v);
  kernels::Autodiff ad(model, wrt);
  kernels::ExecutorOptions eo;
  eo.training = true;
  kernels::Executor exec(model, eo);
  test::Digits d = test::digits();
  kernels::NamedTensors outs = exec.run({{"input", test::rows(d.x, 0, 8)}});
  ir::Tensor dy = filled(outs.front().second.shape(), 0.125f);
  std::map<size_t, ir::Tensor> early;
  std::vector<ir::Tensor> grads = ad.backward(exec, {{outs.front().first, dy}}, [&](size_t k, const ir::Tensor& g) {
    CHECK(early.count(k) == 0);
    ir::Tensor copy = g;
    copy.mutable_bytes();  // its own storage: what backward does later cannot change it
    early[k] = copy;
  });
  size_t with_grad = 0;
  for (size_t k = 0; k < grads.size(); ++k) {
    if (grads[k].dtype() == ir::DType::kUndefined) continue;
    ++with_grad;
    INFO(wrt[k]->name());
    REQUIRE(early.count(k) == 1);
    auto a = early[k].values<float>();
    auto b = grads[k].values<float>();
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  }
  CHECK(with_grad == early.size());
  CHECK(with_grad + 4 == wrt.size());  // all but the two BatchNormalization running statistics pairs
}

TEST_CASE("the gradient reducer sums buckets in a fixed order and keeps absent gradients absent", "[train][data_parallel]") {
  std::vector<ir::Tensor> params = {filled({300}, 0), filled({10}, 0), filled({400}, 0), filled({2, 3}, 0)};
  std::vector<const ir::Tensor*> ptrs;
  for (const ir::Tensor& p : params) ptrs.push_back(&p);
  IdenticalRanks two(2);
  distill::GradientReducer reducer(two, ptrs, 1024, 2048);  // small buckets: more than one
  CHECK(reducer.buckets() >= 2);
  for (int step = 0; step < 2; ++step) {
    reducer.begin_step();
    std::vector<ir::Tensor> grads = {filled({300}, 1.0f), ir::Tensor(), filled({400}, 3.0f), filled({2, 3}, 4.0f)};
    reducer.ready(3, grads[3]);  // backward reaches the last parameters first
    reducer.ready(2, grads[2]);
    reducer.finish(grads);
    CHECK(grads[0].values<float>()[299] == 2.0f);
    CHECK(grads[1].dtype() == ir::DType::kUndefined);  // no rank had one
    CHECK(grads[2].values<float>()[0] == 6.0f);
    CHECK(grads[3].values<float>()[5] == 8.0f);
  }
  CHECK(two.started == 2 * static_cast<int>(reducer.buckets()));
}

TEST_CASE("one rank trains as before: a Trainer given the single-rank communicator", "[train][data_parallel]") {
  auto path = (test::source_dir() / "tests" / "reference" / "cnn_digits_init.onnx").string();
  ir::Model a = onnx_io::load_model(path), b = onnx_io::load_model(path);
  distill::TrainerOptions o;
  o.batch = 16;
  o.threads = 1;
  distill::Trainer plain(a, o);
  auto single = kernels::comm::make_single_rank();
  o.comm = single.get();
  distill::Trainer with_comm(b, o);
  test::Digits d = test::digits();
  distill::TrainingData data{64, [&](std::span<const int64_t> r) { return kernels::NamedTensors{{"input", test::rows(d.x, r)}}; },
                             [&](std::span<const int64_t> r) { return test::rows(d.y, r); }, {}};
  const distill::EpochStats sa = plain.train_epoch(data, 0), sb = with_comm.train_epoch(data, 0);
  CHECK(sa.loss == sb.loss);
  for (size_t k = 0; k < plain.parameters().size(); ++k) {
    auto x = plain.parameters()[k]->initializer->values<float>();
    auto y = with_comm.parameters()[k]->initializer->values<float>();
    CHECK(std::equal(x.begin(), x.end(), y.begin(), y.end()));
  }
}

TEST_CASE("the replica check names the first rank whose weights differ from rank 0's", "[train][data_parallel]") {
  ir::Model model = onnx_io::load_model((test::source_dir() / "tests" / "reference" / "cnn_digits_init.onnx").string());
  IdenticalRanks two(2);  // its sums double rank 0's hash and leave rank 1's slot 0: rank 1 "differs"
  distill::TrainerOptions o;
  o.batch = 16;
  o.threads = 1;
  o.comm = &two;
  o.check_replicas = 1;
  distill::Trainer trainer(model, o);
  test::Digits d = test::digits();
  distill::TrainingData data{64, [&](std::span<const int64_t> r) { return kernels::NamedTensors{{"input", test::rows(d.x, r)}}; },
                             [&](std::span<const int64_t> r) { return test::rows(d.y, r); }, {}};
  const std::vector<int64_t> rows = {0, 1, 2, 3, 4, 5, 6, 7};
  try {
    trainer.train_step_shard(data, rows, 16);
    FAIL("the replica check passed");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kInternal);
    CHECK(std::string(e.what()).find("rank 1's weights differ from rank 0's") != std::string::npos);
  }
}
