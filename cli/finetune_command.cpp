// scalec finetune: trains a model's float weights on labelled data, on the ONNX graph itself, and
// writes a clean inference model (Dropout removed, BatchNormalization carrying the new running
// statistics). Checkpoints after every epoch; --resume continues a killed run to the same weights.
// scalec distill is the same stage with a teacher: loss = A T^2 KL(teacher_T || student_T) +
// (1 - A) CE(labels); the teacher runs forward only, on the same batches; data without labels
// trains on the teacher alone (A = 1).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/dataset.h"
#include "cli/stage.h"
#include "cli/stage_command.h"
#include "cli/teacher_cache.h"
#include "cli/training_cli.h"
#include "distill/hints.h"
#include "distill/init_from_teacher.h"
#include "distill/trainer.h"
#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/cleanup/remove_dropout.h"
#include "passes/core/pass_text.h"

namespace scalec::cli {

namespace {

struct FinetuneOptions {
  std::string data, val, labels = "labels", checkpoint, teacher, cache_teacher, teacher_device = "cpu";
  bool no_t2 = false, init_from_teacher = false;
  int64_t epochs = 1;
  int64_t cache_top_k = -1;  // -1: all logits up to 1000 classes, else 64
  std::vector<std::string> hints;
  bool resume = false;
  distill::TrainerOptions trainer;
};

// The run settings a checkpoint must share with the run resuming it.
std::vector<std::pair<std::string, double>> run_identity(const FinetuneOptions& o) {
  return {{"meta/seed", static_cast<double>(o.trainer.seed)}, {"meta/batch", static_cast<double>(o.trainer.batch)},
          {"meta/epochs", static_cast<double>(o.epochs)}, {"meta/lr", o.trainer.schedule.base_lr}};
}

// The teacher's logits width (and the student's) on one sample: they must agree before training.
int64_t logits_width(const ir::Model& m, const kernels::NamedTensors& feeds, const std::string& output, const char* who) {
  kernels::Executor exec(m);
  kernels::NamedTensors outs = exec.run(feeds);
  const ir::Tensor* t = &outs.front().second;
  for (const auto& [n, v] : outs) {
    if (n == output) t = &v;
  }
  if (t->rank() != 2) throw_bad_input("the {}'s logits have shape {}; distillation needs [N, classes]", who, ir::shape_to_string(t->shape()));
  return t->shape()[1];
}

// Top-1 class of the teacher per sample: the labels of data that has none.
ir::Tensor teacher_labels(const ir::Model& teacher, const Dataset& d, const std::string& output, int threads) {
  kernels::ExecutorOptions eo;
  eo.threads = threads;
  kernels::Executor exec(teacher, eo);
  std::vector<int64_t> labels;
  for (int64_t b = 0; b < d.samples; b += 64) {
    const int64_t end = std::min(d.samples, b + 64);
    kernels::NamedTensors outs = exec.run(batch_of(d, b, end));
    const ir::Tensor* t = &outs.front().second;
    for (const auto& [n, v] : outs) {
      if (n == output) t = &v;
    }
    const int64_t c = t->shape()[1];
    for (int64_t i = 0; i < end - b; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < c; ++k) best = t->element_as_double(i * c + k) > t->element_as_double(i * c + best) ? k : best;
      labels.push_back(best);
    }
  }
  return ir::Tensor::from_int64s({d.samples}, labels);
}

class FinetuneStage final : public Stage {
 public:
  explicit FinetuneStage(bool distill) : distill_(distill) {
    if (distill_) {
      o_.trainer.temperature = 4.0;
      o_.trainer.distill_alpha = 0.5;
    }
  }
  std::string name() const override { return distill_ ? "distill" : "finetune"; }
  std::string output_tag() const override { return distill_ ? "distilled" : "finetuned"; }

  void add_options(CLI::App* cmd) override {
    FinetuneOptions& o = o_;
    cmd->add_option("--data", o.data, "Training data (.npz: arrays named after the inputs, plus labels)");
    cmd->add_option("--val", o.val, "Validation data, evaluated after every epoch");
    cmd->add_option("--labels", o.labels, "Key of the labels array (integer class indices, shape [N])");
    cmd->add_option("--epochs", o.epochs, "Passes over the data")->check(CLI::PositiveNumber);
    add_trainer_options(cmd, o.trainer);
    cmd->add_option("--checkpoint", o.checkpoint, "Write training state here (.npz) after every epoch");
    cmd->add_flag("--resume", o.resume, "Continue from --checkpoint when it exists");
    if (!distill_) return;
    cmd->add_option("--teacher", o.teacher, "Teacher model (same inputs, logits of the same width); runs forward only");
    cmd->add_option("--temperature", o.trainer.temperature, "Distillation temperature T")->check(CLI::PositiveNumber);
    cmd->add_option("--distill-weight", o.trainer.distill_alpha,
                    "A: loss = A T^2 KL + (1 - A) cross-entropy (1 when the data has no labels)")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_flag("--no-t2", o.no_t2, "Drop the T^2 factor of the KL term");
    cmd->add_option("--teacher-output", o.trainer.teacher_output,
                    "The teacher's logits output (default: named like the student's --output, else its first)");
    cmd->add_flag("--init-from-teacher", o.init_from_teacher,
                  "Start the student from the teacher's weights wherever a float initializer's name and shape match");
    cmd->add_option("--cache-teacher", o.cache_teacher,
                    "Folder holding the teacher's logits per training sample: computed once, reused by later epochs and runs");
    cmd->add_option("--cache-top-k", o.cache_top_k,
                    "Logits the cache keeps per sample, the largest (default: all up to 1000 classes, else 64); the "
                    "teacher's distribution is renormalized over them")
        ->check(CLI::PositiveNumber)
        ->default_str("auto");
    cmd->add_option("--hint", o.hints,
                    "TEACHER_VALUE=STUDENT_VALUE: also match these intermediate values (repeatable); a learned projection "
                    "bridges different channel widths and is dropped from the output")
        ->type_name("T=S")
        ->delimiter(',');
    cmd->add_option("--hint-loss", o.trainer.hint_loss, "Loss of the hints: mse or cosine")->check(CLI::IsMember({"mse", "cosine"}));
    cmd->add_option("--hint-weight", o.trainer.hint_weight, "Weight of each hint's loss (default 1)")->check(CLI::NonNegativeNumber);
    add_device_option(cmd, "--teacher-device", o.teacher_device, "Where the teacher runs");
  }

  void check() const override {
    if (o_.data.empty()) throw Error(ExitCode::kUsage, fmt::format("{} needs training data: --data PATH", name()));
    if (distill_ && o_.teacher.empty()) throw Error(ExitCode::kUsage, "distill needs a teacher: --teacher MODEL");
    if (o_.resume && o_.checkpoint.empty()) throw Error(ExitCode::kUsage, "--resume needs --checkpoint PATH");
    if (!o_.hints.empty() && !o_.cache_teacher.empty()) {
      throw Error(ExitCode::kUsage, "--cache-teacher keeps the teacher's logits only; --hint needs its intermediate values "
                                    "every step: use one of them");
    }
    if (o_.cache_top_k > 0 && o_.cache_teacher.empty()) throw Error(ExitCode::kUsage, "--cache-top-k needs --cache-teacher DIR");
    for (const std::string& h : o_.hints) distill::parse_hint(h);
  }

  std::vector<std::pair<std::string, std::string>> inputs() const override {
    std::vector<std::pair<std::string, std::string>> in = {{"--data", o_.data}, {"--val", o_.val}, {"--teacher", o_.teacher}};
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
    const distill::TrainerOptions& t = o_.trainer;
    if (distill_) {
      std::string hints;
      for (const std::string& h : o_.hints) hints.append(hints.empty() ? "" : ",").append(h);
      if (!hints.empty()) hints = fmt::format(";hint={};hint-loss={};hint-weight={}", hints, t.hint_loss, t.hint_weight);
      return fmt::format("distill<teacher={};epochs={};lr={};batch={};seed={};temperature={};distill-weight={};t2={}{}>,remove-dropout",
                         std::filesystem::path(o_.teacher).filename().string(), o_.epochs, t.schedule.base_lr, t.batch, t.seed,
                         t.temperature, t.distill_alpha, !o_.no_t2, hints);
    }
    return fmt::format("train<epochs={};lr={};batch={};seed={}>,remove-dropout", o_.epochs, t.schedule.base_lr, t.batch, t.seed);
  }

  EvalSpec eval_spec() const override { return {o_.val, o_.labels, o_.trainer.output, o_.trainer.batch, o_.trainer.threads}; }

  StageResult run(ir::Model& model, const ir::Model&) override {
    FinetuneOptions& o = o_;
    std::optional<ir::Model> teacher;
    bool labels_from_teacher = false;
    std::optional<Dataset> loaded;
    std::optional<distill::WeightCopy> init_copy;
    if (distill_) {
      teacher = onnx_io::load_model(o.teacher);
      canonicalize_for_passes(*teacher);
      loaded = load_streamed_dataset(model, o.data, o.labels);
      if (loaded->samples == 0) throw_bad_input("--data '{}' holds no samples", o.data);
      check_teacher(*teacher, model, *loaded);
      if (!loaded->labels) {  // the teacher alone: its top-1 stands in for labels (epoch "acc" = agreement)
        loaded->labels = teacher_labels(*teacher, *loaded, o.trainer.teacher_output, o.trainer.threads);
        o.trainer.distill_alpha = 1.0;
        labels_from_teacher = true;
        spdlog::info("--data has no '{}': training on the teacher alone (distill weight 1; acc is agreement with the teacher)", o.labels);
      }
      o.trainer.teacher = &*teacher;
      o.trainer.kd_t2 = !o.no_t2;
      if (o.init_from_teacher) init_copy = init_from(*teacher, model);
    }
    Dataset train = loaded ? std::move(*loaded) : labelled(model, o.data, o.labels, "--data");
    std::optional<Dataset> val;
    if (!o.val.empty()) val = labelled(model, o.val, o.labels, "--val");
    distill::TrainerOptions& t = o.trainer;
    std::vector<distill::HintHead> hint_heads;
    if (distill_ && !o.hints.empty()) {
      std::vector<distill::HintSpec> specs;
      for (const std::string& h : o.hints) specs.push_back(distill::parse_hint(h));
      hint_heads = distill::attach_hint_heads(model, *teacher, specs, batch_of(train, 0, 1), t.seed);
      t.hints.clear();
      for (const distill::HintHead& h : hint_heads) {
        t.hints.push_back({h.student_output, h.spec.teacher});
        t.auxiliary.insert(t.auxiliary.end(), h.added_initializers.begin(), h.added_initializers.end());
        spdlog::info("--hint {}={}: teacher {} vs student {}{}", h.spec.teacher, h.spec.student,
                     ir::shape_to_string(h.teacher_shape), ir::shape_to_string(h.student_shape),
                     h.projected ? fmt::format(" through a learned projection ({} parameters, not in the output)",
                                               h.projection_parameters)
                                 : "");
      }
    }
    const int64_t steps_per_epoch = plan_steps(model, t, train.samples, o.epochs);
    distill::Trainer trainer(model, t);
    spdlog::info("training {} tensors on {} samples, batch {}, {} steps per epoch", trainer.parameters().size() - t.auxiliary.size(),
                 train.samples, t.batch, steps_per_epoch);
    spdlog::info("{}", trainer.coverage().summary("training"));

    kernels::comm::Communicator& comm = kernels::comm::world();
    const TrainingCheckpoint ckpt{o.checkpoint, run_identity(o), "finetune"};
    const int64_t first_epoch = ckpt.restore(o.resume, trainer);

    distill::TrainingData train_data = training_data(train);
    std::optional<TeacherCache> cached;
    if (distill_ && !o.cache_teacher.empty()) {
      const std::string& out = o.trainer.teacher_output.empty() ? o.trainer.output : o.trainer.teacher_output;
      // Rank 0 fills the cache first; the other ranks then read what it wrote.
      if (comm.rank() != 0) comm.barrier(false);  // as long as the teacher takes: no watchdog
      cached = cached_teacher_logits(o.cache_teacher, o.teacher, *teacher, o.data, train, out, o.cache_top_k, t.threads);
      if (comm.rank() == 0 && comm.size() > 1) comm.barrier(false);
      train_data.teacher_logits = [&cached](std::span<const int64_t> rows) { return cached->rows(rows); };
    }
    std::optional<distill::TrainingData> val_data;
    if (val) val_data = training_data(*val);
    nlohmann::json epochs = run_epochs(trainer, train_data, val_data, first_epoch, o.epochs, quiet_epochs,
                                       [&](int64_t e) { ckpt.save(trainer, e); });

    if (train.stream) train.stream->verify();  // rows read out of order: every member's CRC before the output
    distill::detach_hint_heads(model, hint_heads);  // the projections served training only
    passes::RemoveDropout remove_dropout;
    spdlog::info("{}", remove_dropout.run(model));
    StageResult r;
    for (const passes::PassSpec& step : passes::parse_pipeline(pipeline_text())) r.steps.push_back(passes::print_pass(step));
    r.report = {{"samples", train.samples}, {"batch", t.batch}, {"seed", t.seed},
                {"parameters_trained", trainer.parameters().size() - t.auxiliary.size()}, {"steps", trainer.step()},
                {"coverage", trainer.coverage().to_json()}, {"epochs", epochs}};
    if (distill_) {
      r.report["distill"] = {{"teacher", o.teacher}, {"temperature", t.temperature}, {"distill_weight", t.distill_alpha},
                             {"t2", t.kd_t2}, {"labels_from_teacher", labels_from_teacher}};
      if (cached) r.report["distill"]["cache"] = {{"k", cached->k()}, {"classes", cached->classes()}};
      if (!hint_heads.empty()) {
        nlohmann::json hints = nlohmann::json::array();
        for (const distill::HintHead& h : hint_heads) {
          hints.push_back({{"teacher", h.spec.teacher}, {"student", h.spec.student}, {"teacher_shape", h.teacher_shape},
                           {"student_shape", h.student_shape}, {"projection_parameters", h.projection_parameters}});
        }
        r.report["distill"]["hints"] = {{"loss", t.hint_loss}, {"weight", t.hint_weight}, {"values", hints}};
      }
      if (init_copy) {
        r.report["distill"]["init_from_teacher"] = {{"tensors", init_copy->tensors}, {"elements", init_copy->elements},
                                                    {"float_tensors", init_copy->float_tensors}};
      }
      if (val) {  // gates compare the student with its teacher
        r.accuracy_before = top1_accuracy(*teacher, *val, t.batch, t.threads, t.teacher_output);
        r.accuracy_after = top1_accuracy(model, *val, t.batch, t.threads, t.output);
        r.report["accuracy_teacher"] = *r.accuracy_before;
        r.report["accuracy_student"] = *r.accuracy_after;
        r.text += fmt::format("val top-1      teacher {:.2f}%  student {:.2f}%\n", 100 * *r.accuracy_before,
                              100 * *r.accuracy_after);
      }
    }
    // how much of the model trained, and why the rest did not
    r.text += trainer.coverage().summary("trained") + "\n";
    for (const std::string& line : trainer.coverage().reason_lines()) r.text += "left: " + line + "\n";
    return r;
  }

 private:
  // --init-from-teacher: copies the matching weights and says how many (a warning when none matched).
  static distill::WeightCopy init_from(const ir::Model& teacher, ir::Model& student) {
    const distill::WeightCopy c = distill::copy_matching_weights(student, teacher);
    if (c.tensors == 0) {
      spdlog::warn("--init-from-teacher: none of the student's {} float initializers matches a teacher initializer "
                   "in name and shape; the student keeps its own weights", c.float_tensors);
    } else {
      spdlog::info("--init-from-teacher: copied {} of the student's {} float tensors ({} elements) from the teacher",
                   c.tensors, c.float_tensors, c.elements);
    }
    return c;
  }

  // The teacher reads the student's inputs and has logits as wide as the student's (exit 2 otherwise).
  void check_teacher(const ir::Model& teacher, const ir::Model& student, const Dataset& data) const {
    for (const ir::Value* v : teacher.graph->inputs) {
      if (v->is_initializer()) continue;
      const auto& in = student.graph->inputs;
      if (std::none_of(in.begin(), in.end(), [&](const ir::Value* s) { return s->name() == v->name(); })) {
        throw_bad_input("the teacher reads input '{}', which the student does not have: distillation feeds both the same batches",
                        v->name());
      }
    }
    const kernels::NamedTensors one = batch_of(data, 0, 1);
    const std::string& so = o_.trainer.output;
    const int64_t ws = logits_width(student, one, so, "student");
    const int64_t wt = logits_width(teacher, one, o_.trainer.teacher_output.empty() ? so : o_.trainer.teacher_output, "teacher");
    if (ws != wt) throw_bad_input("the teacher's logits are {} wide and the student's {}: they must match", wt, ws);
  }

  bool distill_;
  FinetuneOptions o_;
};

}  // namespace

std::unique_ptr<Stage> make_finetune_stage() { return std::make_unique<FinetuneStage>(false); }
std::unique_ptr<Stage> make_distill_stage() { return std::make_unique<FinetuneStage>(true); }

void add_finetune_command(CLI::App& app) {
  add_stage_command(app, make_finetune_stage(), "Train the model's weights on labelled data (cross-entropy)");
}

void add_distill_command(CLI::App& app) {
  add_stage_command(app, make_distill_stage(),
                    "Train a student on a teacher's soft targets (KL with temperature) and the labels", "--student");
}

}  // namespace scalec::cli
