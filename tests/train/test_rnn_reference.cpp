// The training engine on a recurrent model: PyTorch's first 20 SGD steps of an nn.LSTM digit
// classifier (tests/reference/make_rnn_reference.py) replayed through LSTM's backward through time.
#include <catch2/catch.hpp>

#include "distill/trainer.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "support/test_support.h"
#include "support/tolerance.h"
#include "train/digits_data.h"

using namespace scalec;
using test::Digits;
using test::digits;
using test::rows;

namespace {

std::filesystem::path reference(const std::string& name) { return test::source_dir() / "tests" / "reference" / name; }

}  // namespace

TEST_CASE("the first 20 SGD steps of an LSTM classifier follow PyTorch", "[train][recurrent]") {
  ir::Model model = onnx_io::load_model(reference("lstm_digits_init.onnx").string());
  distill::TrainerOptions o;
  o.batch = 16;
  o.threads = 2;
  o.optimizer.kind = "sgd";
  o.optimizer.momentum = 0.9;
  o.optimizer.weight_decay = 1e-4;
  o.schedule.base_lr = 0.1;
  distill::Trainer trainer(model, o);
  REQUIRE(trainer.parameters().size() == 5);  // LSTM W, R, B and the Linear layer's weight and bias
  Digits d = digits();
  std::vector<double> losses;
  for (int64_t k = 0; k < 20; ++k) {
    losses.push_back(trainer.train_step({{"input", rows(d.x, 16 * k, 16 * (k + 1))}}, rows(d.y, 16 * k, 16 * (k + 1))).loss);
  }
  auto ref = onnx_io::read_npz(reference("lstm_digits_sgd20.npz").string());
  REQUIRE(ref.size() == 6);
  for (const auto& [name, t] : ref) {
    if (name == "loss") {
      for (int64_t k = 0; k < 20; ++k) {
        INFO("step " << k);
        CHECK(test::near(losses[k], t.values<double>()[k], 1e-5, 1e-4));
      }
      continue;
    }
    const ir::Value* v = model.graph->find_value(name);
    REQUIRE(v);
    REQUIRE(v->initializer->shape() == t.shape());
    auto got = v->initializer->values<float>();
    auto want = t.values<float>();
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      INFO(name << "[" << i << "]");
      CHECK(test::near(got[i], want[i], 2e-5, 1e-4));
      worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want[i]));
    }
    INFO(name << ": max |scalec - PyTorch| " << worst);
    CHECK(worst < 1e-4);
  }
}
