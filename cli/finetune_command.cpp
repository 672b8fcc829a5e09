// scalec finetune: trains a model's float weights on labelled data, on the ONNX graph itself, and
// writes a clean inference model (Dropout removed, BatchNormalization carrying the new running
// statistics). Checkpoints after every epoch; --resume continues a killed run to the same weights.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/run_options.h"
#include "cli/dataset.h"
#include "cli/output_set.h"
#include "cli/training_cli.h"
#include "distill/trainer.h"
#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/cleanup/remove_dropout.h"

namespace scalec::cli {

namespace {

struct FinetuneOptions {
  std::string model, data, val, labels = "labels", output, report, checkpoint;
  int64_t epochs = 1;
  bool resume = false, in_place = false;
  distill::TrainerOptions trainer;
};

// The run settings a checkpoint must share with the run resuming it.
std::vector<std::pair<std::string, double>> run_identity(const FinetuneOptions& o) {
  return {{"meta/seed", static_cast<double>(o.trainer.seed)}, {"meta/batch", static_cast<double>(o.trainer.batch)},
          {"meta/epochs", static_cast<double>(o.epochs)}, {"meta/lr", o.trainer.schedule.base_lr}};
}

}  // namespace

void add_finetune_command(CLI::App& app) {
  auto o = std::make_shared<FinetuneOptions>();
  auto& opts = o->trainer;
  CLI::App* cmd = app.add_subcommand("finetune", "Train the model's weights on labelled data (cross-entropy)");
  add_run_options(cmd);
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--data", o->data, "Training data (.npz: arrays named after the inputs, plus labels)")->required();
  cmd->add_option("--val", o->val, "Validation data, evaluated after every epoch");
  cmd->add_option("--labels", o->labels, "Key of the labels array (integer class indices, shape [N])");
  cmd->add_option("-o", o->output, "Output model")->required();
  cmd->add_flag("--in-place", o->in_place, "Allow -o to be the input model");
  cmd->add_option("--epochs", o->epochs, "Passes over the data")->check(CLI::PositiveNumber);
  add_trainer_options(cmd, opts);
  cmd->add_option("--checkpoint", o->checkpoint, "Write training state here (.npz) after every epoch");
  cmd->add_flag("--resume", o->resume, "Continue from --checkpoint when it exists");
  cmd->add_option("--report", o->report, "Write a JSON report to PATH ('-' for stdout)");
  cmd->callback([o] {
    if (o->resume && o->checkpoint.empty()) throw Error(ExitCode::kUsage, "--resume needs --checkpoint PATH");
    OutputSet files;
    files.allow_in_place(o->in_place);
    files.input("model", o->model);
    files.input("--data", o->data);
    files.input("--val", o->val);
    if (o->resume) files.input("--checkpoint", o->checkpoint);  // read and written: exempt from the check
    files.output("-o", o->output);
    files.output("--report", o->report);
    files.output("--checkpoint", o->checkpoint);  // committed after every epoch, not with the outputs
    files.check();
    ir::Model model = onnx_io::load_model(o->model);
    files.model_data("model", model);
    canonicalize_for_passes(model);
    Dataset train = labelled(model, o->data, o->labels, "--data");
    std::optional<Dataset> val;
    if (!o->val.empty()) val = labelled(model, o->val, o->labels, "--val");
    distill::TrainerOptions& t = o->trainer;
    const int64_t steps_per_epoch = plan_steps(model, t, train.samples, o->epochs);
    distill::Trainer trainer(model, t);
    spdlog::info("training {} tensors on {} samples, batch {}, {} steps per epoch", trainer.parameters().size(),
                 train.samples, t.batch, steps_per_epoch);
    spdlog::info("{}", trainer.coverage().summary("training"));

    int64_t first_epoch = 0;
    if (o->resume && std::filesystem::exists(o->checkpoint)) {
      std::vector<onnx_io::NamedTensor> state = onnx_io::read_npz(o->checkpoint);
      auto meta = [&](const std::string& key) {
        for (const auto& [k, v] : state) {
          if (k == key) return v.element_as_double(0);
        }
        throw_bad_input("checkpoint '{}' has no '{}': not a scalec finetune checkpoint", o->checkpoint, key);
      };
      for (const auto& [key, value] : run_identity(*o)) {
        if (meta(key) != value) {
          throw_bad_input("checkpoint '{}' was written with {} = {}, this run has {}", o->checkpoint, key.substr(5),
                          meta(key), value);
        }
      }
      first_epoch = static_cast<int64_t>(meta("meta/epoch")) + 1;
      trainer.restore(state);
      spdlog::info("resumed from {} after epoch {}", o->checkpoint, first_epoch);
    }

    distill::TrainingData train_data = training_data(train);
    std::optional<distill::TrainingData> val_data;
    if (val) val_data = training_data(*val);
    nlohmann::json epochs = run_epochs(trainer, train_data, val_data, first_epoch, o->epochs, o->report == "-", [&](int64_t e) {
      if (o->checkpoint.empty()) return;
      std::vector<onnx_io::NamedTensor> state = trainer.checkpoint();
      for (const auto& [k, v] : run_identity(*o)) {
        ir::Tensor d(ir::DType::kDouble, {});
        d.mutable_values<double>()[0] = v;
        state.emplace_back(k, d);
      }
      state.emplace_back("meta/epoch", ir::Tensor::from_int64s({}, std::vector<int64_t>{e}));
      onnx_io::write_npz(o->checkpoint, state);
    });

    passes::RemoveDropout remove_dropout;
    spdlog::info("{}", remove_dropout.run(model));
    record_provenance(model, fmt::format("finetune<epochs={},lr={}>", o->epochs, t.schedule.base_lr));
    onnx_io::SaveOptions save;
    save.commit_group = files.group();
    onnx_io::save_model(model, o->output, save);
    if (!o->report.empty()) {
      nlohmann::json j = {{"schema_version", kReportSchemaVersion}, {"model", o->model}, {"output", o->output},
                          {"samples", train.samples}, {"batch", t.batch}, {"seed", t.seed},
                          {"parameters_trained", trainer.parameters().size()}, {"steps", trainer.step()},
                          {"coverage", trainer.coverage().to_json()},
                          {"epochs", epochs}};
      write_report(j, o->report, files.group());
    }
    files.commit();
    if (o->report != "-") {  // how much of the model trained, and why the rest did not (stdout only on success)
      std::string text = trainer.coverage().summary("trained") + "\n";
      for (const std::string& line : trainer.coverage().reason_lines()) text += "left: " + line + "\n";
      std::fputs(text.c_str(), stdout);
    }
    spdlog::info("wrote {}", o->output);
  });
}

}  // namespace scalec::cli
