// Pruning during training: masks survive optimizer steps (momentum, weight decay), the polynomial
// sparsity schedule, gradual pruning reaching its target while the model still learns, and
// distillation from a teacher.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "distill/gradual_pruning.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/prune/prunable.h"
#include "support/test_support.h"
#include "train/digits_data.h"

using namespace scalec;
using test::rows;

namespace {

distill::TrainerOptions options() {
  distill::TrainerOptions o;
  o.batch = 32;
  o.threads = 2;
  o.optimizer.kind = "sgd";
  o.optimizer.momentum = 0.9;
  o.optimizer.weight_decay = 1e-3;
  o.schedule.base_lr = 0.02;
  return o;
}

ir::Model lenet() { return onnx_io::load_model((test::source_dir() / "test_models" / "lenet_digits.onnx").string()); }

}  // namespace

TEST_CASE("the polynomial schedule rises cubically to its final sparsity at the update steps", "[train][prune]") {
  distill::SparsitySchedule s{0.0, 0.8, 10, 110, 10};
  CHECK(distill::sparsity_at(s, 0) == 0.0);
  CHECK(distill::sparsity_at(s, 10) == 0.0);
  CHECK(distill::sparsity_at(s, 60) == Approx(0.8 * (1 - 0.125)));
  CHECK(distill::sparsity_at(s, 65) == distill::sparsity_at(s, 60));  // fixed between updates
  CHECK(distill::sparsity_at(s, 110) == 0.8);
  CHECK(distill::sparsity_at(s, 5000) == 0.8);
  CHECK(distill::is_update_step(s, 10));
  CHECK(distill::is_update_step(s, 20));
  CHECK_FALSE(distill::is_update_step(s, 25));
  CHECK_FALSE(distill::is_update_step(s, 120));
  distill::SparsitySchedule once{0.0, 0.5, 3, 3, 1};
  CHECK(distill::sparsity_at(once, 2) == 0.0);
  CHECK(distill::sparsity_at(once, 3) == 0.5);
  CHECK(distill::is_update_step(once, 3));
  CHECK_FALSE(distill::is_update_step(once, 4));
}

TEST_CASE("masked weights stay zero through SGD steps with momentum and weight decay", "[train][prune]") {
  ir::Model model = lenet();
  distill::Trainer trainer(model, options());
  passes::MagnitudePruneOptions po;
  po.sparsity = 0.6;
  po.prune_first = po.prune_last = true;
  passes::MagnitudePruneResult r = passes::magnitude_masks(model, po);
  std::map<std::string, ir::Tensor> before;
  for (const auto& [name, mask] : r.masks) before[name] = *model.graph->find_value(name)->initializer;
  trainer.set_masks(r.masks);
  test::Digits d = test::digits("digits_train.npz");
  distill::TrainingData data = test::training_data(d);
  trainer.train_epoch(data, 0);
  for (const auto& [name, mask] : r.masks) {
    const ir::Tensor& w = *model.graph->find_value(name)->initializer;
    int64_t moved = 0;
    for (int64_t i = 0; i < w.numel(); ++i) {
      if (mask.element_as_double(i) == 0.0) REQUIRE(w.element_as_double(i) == 0.0);
      else moved += w.element_as_double(i) != before[name].element_as_double(i);
    }
    CHECK(moved > w.numel() / 4);  // the kept weights do train
  }
}

TEST_CASE("gradual pruning reaches 80% and the pruned model still classifies digits", "[train][prune]") {
  ir::Model model = lenet();
  distill::TrainerOptions o = options();
  o.schedule.total_steps = 3 * 45;
  distill::Trainer trainer(model, o);
  passes::MagnitudePruneOptions po;
  po.sparsity = 0.8;
  distill::GradualPruner pruner(trainer, model, po, {0.0, 0.8, 0, 60, 10});
  trainer.add_step_hook([&](int64_t step) { pruner.on_step(step); });
  test::Digits train = test::digits("digits_train.npz"), val = test::digits("digits_val.npz");
  for (int64_t e = 0; e < 3; ++e) trainer.train_epoch(test::training_data(train), e);
  CHECK(pruner.current_sparsity() == 0.8);
  for (const passes::LayerPruneResult& l : pruner.last().layers) {
    if (!l.note.empty()) continue;
    const ir::Tensor& w = *model.graph->find_value(l.weight)->initializer;
    int64_t z = 0;
    for (int64_t i = 0; i < w.numel(); ++i) z += w.element_as_double(i) == 0.0;
    CHECK(z >= std::llround(0.8 * static_cast<double>(w.numel())));
  }
  CHECK(trainer.evaluate(test::training_data(val)).accuracy > 0.93);  // unpruned: 0.986
}

TEST_CASE("distillation from an identical teacher with weight 1 has zero loss", "[train][prune]") {
  ir::Model student = lenet(), teacher = lenet();
  distill::TrainerOptions o = options();
  o.teacher = &teacher;
  o.distill_alpha = 1.0;
  o.temperature = 3.0;
  distill::Trainer trainer(student, o);
  test::Digits d = test::digits("digits_val.npz");
  std::vector<int64_t> r{0, 1, 2, 3, 4, 5, 6, 7};
  distill::LossResult first = trainer.train_step({{"input", rows(d.x, r)}}, rows(d.y, r));
  CHECK(std::fabs(first.loss) < 1e-9);
  CHECK(first.correct >= 7);
  // With weight 0 the loss is the plain cross-entropy: small for this trained model, but not zero.
  o.distill_alpha = 0.0;
  ir::Model student2 = lenet();
  distill::Trainer plain(student2, o);
  CHECK(plain.train_step({{"input", rows(d.x, r)}}, rows(d.y, r)).loss > 1e-6);
}
