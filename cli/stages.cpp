// The stage table `scalec run` looks names up in, and the eval stage (a pipeline's measurement step).
#include <spdlog/spdlog.h>

#include "cli/stage.h"
#include "cli/training_cli.h"
#include "ir/error.h"

namespace scalec::cli {

namespace {

// eval in a pipeline: top-1 on --val of the model as the stages before left it; changes nothing.
class EvalStage final : public Stage {
 public:
  std::string name() const override { return "eval"; }
  std::string output_tag() const override { return "evaluated"; }
  bool writes_model() const override { return false; }
  void add_options(CLI::App* cmd) override {
    cmd->add_option("--val", e_.val, "Labelled data to measure top-1 on (default: the pipeline's val)");
    cmd->add_option("--labels", e_.labels, "Key of the labels array");
    cmd->add_option("--output", e_.output, "Model output holding the logits (default: the first)");
    cmd->add_option("--batch", e_.batch, "Samples per run")->check(CLI::PositiveNumber);
    cmd->add_option("--threads", e_.threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  }
  void check() const override {
    if (e_.val.empty()) throw Error(ExitCode::kUsage, "eval needs labelled data: val (or the pipeline's data: {val: ...})");
  }
  std::vector<std::pair<std::string, std::string>> inputs() const override { return {{"--val", e_.val}}; }
  void set_data(const std::string&, const std::string& val, const std::string&, const std::string& labels) override {
    if (e_.val.empty()) e_.val = val;
    if (!labels.empty()) e_.labels = labels;
  }
  std::string pipeline_text() const override { return "eval"; }
  EvalSpec eval_spec() const override { return e_; }
  StageResult run(ir::Model& model, const ir::Model&) override {
    const Dataset val = labelled(model, e_.val, e_.labels, "--val");
    StageResult r;
    const double top1 = top1_accuracy(model, val, e_.batch, e_.threads, e_.output);
    r.report = {{"val", e_.val}, {"samples", val.samples}, {"top1", top1}};
    r.text = fmt::format("top-1        {:.2f}% ({} samples of {})\n", 100 * top1, val.samples, e_.val);
    r.accuracy_after = top1;
    return r;
  }

 private:
  EvalSpec e_;
};

}  // namespace

std::unique_ptr<Stage> make_eval_stage() { return std::make_unique<EvalStage>(); }

std::unique_ptr<Stage> make_stage(const std::string& name) {
  if (name == "prune") return make_prune_stage();
  if (name == "finetune") return make_finetune_stage();
  if (name == "distill") return make_distill_stage();
  if (name == "quantize") return make_quantize_stage();
  if (name == "qat") return make_qat_stage();
  if (name == "eval") return make_eval_stage();
  return nullptr;
}

std::vector<std::string> stage_names() { return {"prune", "finetune", "distill", "quantize", "qat", "eval"}; }

}  // namespace scalec::cli
