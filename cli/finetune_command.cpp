// scalec finetune: trains a model's float weights on labelled data, on the ONNX graph itself, and
// writes a clean inference model (Dropout removed, BatchNormalization carrying the new running
// statistics). Checkpoints after every epoch; --resume continues a killed run to the same weights.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/dataset.h"
#include "cli/stage.h"
#include "cli/stage_command.h"
#include "cli/training_cli.h"
#include "distill/trainer.h"
#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "passes/cleanup/remove_dropout.h"
#include "passes/core/pass_text.h"

namespace scalec::cli {

namespace {

struct FinetuneOptions {
  std::string data, val, labels = "labels", checkpoint;
  int64_t epochs = 1;
  bool resume = false;
  distill::TrainerOptions trainer;
};

// The run settings a checkpoint must share with the run resuming it.
std::vector<std::pair<std::string, double>> run_identity(const FinetuneOptions& o) {
  return {{"meta/seed", static_cast<double>(o.trainer.seed)}, {"meta/batch", static_cast<double>(o.trainer.batch)},
          {"meta/epochs", static_cast<double>(o.epochs)}, {"meta/lr", o.trainer.schedule.base_lr}};
}

class FinetuneStage final : public Stage {
 public:
  std::string name() const override { return "finetune"; }
  std::string output_tag() const override { return "finetuned"; }

  void add_options(CLI::App* cmd) override {
    FinetuneOptions& o = o_;
    cmd->add_option("--data", o.data, "Training data (.npz: arrays named after the inputs, plus labels)");
    cmd->add_option("--val", o.val, "Validation data, evaluated after every epoch");
    cmd->add_option("--labels", o.labels, "Key of the labels array (integer class indices, shape [N])");
    cmd->add_option("--epochs", o.epochs, "Passes over the data")->check(CLI::PositiveNumber);
    add_trainer_options(cmd, o.trainer);
    cmd->add_option("--checkpoint", o.checkpoint, "Write training state here (.npz) after every epoch");
    cmd->add_flag("--resume", o.resume, "Continue from --checkpoint when it exists");
  }

  void check() const override {
    if (o_.data.empty()) throw Error(ExitCode::kUsage, "finetune needs training data: --data PATH");
    if (o_.resume && o_.checkpoint.empty()) throw Error(ExitCode::kUsage, "--resume needs --checkpoint PATH");
  }

  std::vector<std::pair<std::string, std::string>> inputs() const override {
    std::vector<std::pair<std::string, std::string>> in = {{"--data", o_.data}, {"--val", o_.val}};
    if (o_.resume) in.emplace_back("--checkpoint", o_.checkpoint);  // read and written: exempt from the check
    return in;
  }
  // Committed after every epoch, not with the outputs.
  std::vector<std::pair<std::string, std::string>> side_outputs() const override { return {{"--checkpoint", o_.checkpoint}}; }

  void set_data(const std::string& train, const std::string& val, const std::string&, const std::string& labels) override {
    if (o_.data.empty()) o_.data = train;
    if (o_.val.empty()) o_.val = val;
    if (!labels.empty()) o_.labels = labels;
  }

  std::string pipeline_text() const override {
    return fmt::format("train<epochs={};lr={};batch={};seed={}>,remove-dropout", o_.epochs, o_.trainer.schedule.base_lr,
                       o_.trainer.batch, o_.trainer.seed);
  }

  EvalSpec eval_spec() const override { return {o_.val, o_.labels, o_.trainer.output, o_.trainer.batch, o_.trainer.threads}; }

  StageResult run(ir::Model& model, const ir::Model&) override {
    FinetuneOptions& o = o_;
    Dataset train = labelled(model, o.data, o.labels, "--data");
    std::optional<Dataset> val;
    if (!o.val.empty()) val = labelled(model, o.val, o.labels, "--val");
    distill::TrainerOptions& t = o.trainer;
    const int64_t steps_per_epoch = plan_steps(model, t, train.samples, o.epochs);
    distill::Trainer trainer(model, t);
    spdlog::info("training {} tensors on {} samples, batch {}, {} steps per epoch", trainer.parameters().size(),
                 train.samples, t.batch, steps_per_epoch);
    spdlog::info("{}", trainer.coverage().summary("training"));

    int64_t first_epoch = 0;
    if (o.resume && std::filesystem::exists(o.checkpoint)) {
      std::vector<onnx_io::NamedTensor> state = onnx_io::read_npz(o.checkpoint);
      auto meta = [&](const std::string& key) {
        for (const auto& [k, v] : state) {
          if (k == key) return v.element_as_double(0);
        }
        throw_bad_input("checkpoint '{}' has no '{}': not a scalec finetune checkpoint", o.checkpoint, key);
      };
      for (const auto& [key, value] : run_identity(o)) {
        if (meta(key) != value) {
          throw_bad_input("checkpoint '{}' was written with {} = {}, this run has {}", o.checkpoint, key.substr(5),
                          meta(key), value);
        }
      }
      first_epoch = static_cast<int64_t>(meta("meta/epoch")) + 1;
      trainer.restore(state);
      spdlog::info("resumed from {} after epoch {}", o.checkpoint, first_epoch);
    }

    distill::TrainingData train_data = training_data(train);
    std::optional<distill::TrainingData> val_data;
    if (val) val_data = training_data(*val);
    nlohmann::json epochs = run_epochs(trainer, train_data, val_data, first_epoch, o.epochs, quiet_epochs, [&](int64_t e) {
      if (o.checkpoint.empty()) return;
      std::vector<onnx_io::NamedTensor> state = trainer.checkpoint();
      for (const auto& [k, v] : run_identity(o)) {
        ir::Tensor d(ir::DType::kDouble, {});
        d.mutable_values<double>()[0] = v;
        state.emplace_back(k, d);
      }
      state.emplace_back("meta/epoch", ir::Tensor::from_int64s({}, std::vector<int64_t>{e}));
      onnx_io::write_npz(o.checkpoint, state);
    });

    passes::RemoveDropout remove_dropout;
    spdlog::info("{}", remove_dropout.run(model));
    StageResult r;
    for (const passes::PassSpec& step : passes::parse_pipeline(pipeline_text())) r.steps.push_back(passes::print_pass(step));
    r.report = {{"samples", train.samples}, {"batch", t.batch}, {"seed", t.seed},
                {"parameters_trained", trainer.parameters().size()}, {"steps", trainer.step()},
                {"coverage", trainer.coverage().to_json()}, {"epochs", epochs}};
    // how much of the model trained, and why the rest did not
    r.text = trainer.coverage().summary("trained") + "\n";
    for (const std::string& line : trainer.coverage().reason_lines()) r.text += "left: " + line + "\n";
    return r;
  }

 private:
  FinetuneOptions o_;
};

}  // namespace

std::unique_ptr<Stage> make_finetune_stage() { return std::make_unique<FinetuneStage>(); }

void add_finetune_command(CLI::App& app) {
  add_stage_command(app, make_finetune_stage(), "Train the model's weights on labelled data (cross-entropy)");
}

}  // namespace scalec::cli
