#include "cli/stage_command.h"

#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/html_report.h"
#include "cli/gates.h"
#include "cli/output_set.h"
#include "cli/run_options.h"
#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "onnx_io/model_io.h"
#include "passes/core/opset_upgrade.h"

namespace scalec::cli {

namespace {

struct CommandOptions {
  std::string model, output, report, html;
  bool in_place = false, print_pipeline = false, verify_each = false;
  std::optional<int64_t> target_opset;
  GateOptions gates;
};

}  // namespace

void add_target_opset_option(CLI::App* cmd, std::optional<int64_t>& target) {
  cmd->add_option("--target-opset", target, "Upgrade the written model to this opset (7..22; never downgrades)")
      ->check(CLI::Range(int64_t{7}, int64_t{22}));
}

void apply_target_opset(ir::Model& model, std::optional<int64_t> target, StageResult& r) {
  if (!target) return;
  passes::UpgradeOpset pass(*target);
  r.text += pass.run(model) + "\n";
  r.steps.push_back(pass.text());
}

void check_target_opset(const ir::Model& model, std::optional<int64_t> target) {
  if (target && *target < model.opset_version()) {
    throw Error(ExitCode::kUsage, fmt::format("--target-opset {}: the model is at opset {} and scalec does not downgrade",
                                              *target, model.opset_version()));
  }
}

std::string default_output(const std::string& input, const std::string& tag) {
  const std::filesystem::path p(input);
  std::string stem = p.filename().string();
  if (stem.size() > 5 && stem.ends_with(".onnx")) stem.resize(stem.size() - 5);
  return (p.parent_path() / (stem + "." + tag + ".onnx")).string();
}

void add_stage_command(CLI::App& app, std::shared_ptr<Stage> stage, const std::string& description,
                       const std::string& model_flag) {
  auto o = std::make_shared<CommandOptions>();
  CLI::App* cmd = app.add_subcommand(stage->name(), description);
  add_run_options(cmd);
  cmd->add_option(model_flag.empty() ? "model" : model_flag, o->model, "ONNX model")->required();
  cmd->add_option("-o", o->output, fmt::format("Output model (default: beside the input, <stem>.{}.onnx)", stage->output_tag()));
  cmd->add_flag("--in-place", o->in_place, "Allow -o to be the input model");
  stage->add_options(cmd);
  cmd->add_option("--report", o->report, "Write a JSON report to PATH ('-' for stdout)");
  cmd->add_option("--html", o->html, "Write the report as a page with charts (self-contained HTML) to PATH");
  cmd->add_flag("--print-pipeline", o->print_pipeline, "Print the passes this command expands into, then stop");
  cmd->add_flag("--verify-each", o->verify_each, "Verify the model after every pass (a pass that breaks it exits 70)");
  add_target_opset_option(cmd, o->target_opset);
  add_gate_options(cmd, o->gates);
  cmd->callback([o, stage] {
    stage->check();
    const EvalSpec eval = stage->eval_spec();
    check_gate_inputs(o->gates, eval, stage->output_runs_in_scalec());
    if (o->print_pipeline) {
      std::printf("%s\n", stage->pipeline_text().c_str());
      return;
    }
    const std::string output = o->output.empty() ? default_output(o->model, stage->output_tag()) : o->output;
    OutputSet files;
    files.allow_in_place(o->in_place);
    files.input("model", o->model);
    for (const auto& [flag, path] : stage->inputs()) files.input(flag, path);
    files.output("-o", output);
    files.output("--report", o->report);
    files.output("--html", o->html);
    for (const auto& [flag, path] : stage->side_outputs()) files.output(flag, path);
    files.check();

    ir::Model model = onnx_io::load_model(o->model);
    files.model_data("model", model);
    const int64_t bytes_before = model_bytes(o->model, onnx_io::external_data_files(model));
    canonicalize_for_passes(model);
    check_target_opset(model, o->target_opset);
    ir::Model original = onnx_io::load_model(o->model);  // the before figures, gates, and a teacher
    canonicalize_for_passes(original);
    stage->verify_each = o->verify_each;
    stage->quiet_epochs = o->report == "-";
    stage->input_file = o->model;
    StageResult r = stage->run(model, original);
    if (kernels::comm::world().rank() != 0) return;  // data-parallel ranks: rank 0 alone writes and reports
    apply_target_opset(model, o->target_opset, r);

    onnx_io::SaveOptions save;
    save.passes = r.steps;
    save.commit_group = files.group();
    onnx_io::save_model(model, output, save);
    const std::vector<GateResult> gates = measure_gates(o->gates, original, model, written_model_bytes(files, output), eval,
                                                        r.accuracy_before, r.accuracy_after);
    std::vector<std::pair<std::string, std::string>> inputs = {{"model", o->model}};
    for (const auto& [flag, path] : stage->inputs()) inputs.emplace_back(flag.substr(flag.rfind('-') + 1), path);
    nlohmann::json j = report_header(stage->name(), inputs);
    j["output_file"] = output;
    j.update(r.report);
    std::string pipeline;
    for (const std::string& s : r.steps) pipeline.append(pipeline.empty() ? "" : ",").append(s);
    j["pipeline"] = pipeline;
    j["size"] = {{"before_bytes", bytes_before}, {"after_bytes", written_model_bytes(files, output)}};
    if (r.accuracy_before || r.accuracy_after) {
      j["output_name"] = eval.output.empty() ? model.graph->outputs.front()->name() : eval.output;
      j["accuracy"] = nlohmann::json::object();
      if (r.accuracy_before) j["accuracy"]["before"] = *r.accuracy_before;
      if (r.accuracy_after) j["accuracy"]["after"] = *r.accuracy_after;
    }
    if (o->gates.any()) j["gates"] = gates_json(gates);
    report_footer(j);
    if (!o->report.empty()) write_report(j, o->report, files.group());
    if (!o->html.empty()) write_html_report(j, o->html, files.group());
    files.commit();  // a missed gate (exit 3) still leaves every output
    if (o->report != "-") {
      std::string text = r.text + gates_text(gates);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    spdlog::info("wrote {}", output);
    if (r.target_missed) throw Error(ExitCode::kTargetMissed, *r.target_missed);
    throw_if_gate_missed(gates);
  });
}

}  // namespace scalec::cli
