// scalec run: a whole pipeline in one process, from a YAML file or pass text —
//
//   scalec run pipeline.yaml
//   scalec run model.onnx --passes 'prune<sparsity=0.5;epochs=1>,quantize<bits=8>' --data train.npz ...
//
// Stages (prune, finetune, quantize, eval) take their command's long options as keys, with the
// command's meaning; any registered pass (fold-batchnorm, prune-magnitude, quantize-qdq, ...) may
// stand as a step too. The whole pipeline is parsed and checked before any work: a YAML or schema
// error exits 2 naming file, line and column. The model stays in memory between stages; `keep:`
// writes a stage's model as well; gates are measured on the final model against the input.
#include <cstdio>
#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "cli/app_context.h"
#include "cli/html_report.h"
#include "cli/dataset.h"
#include "cli/gates.h"
#include "cli/output_set.h"
#include "cli/run_options.h"
#include "cli/stage.h"
#include "cli/stage_command.h"
#include "ir/error.h"
#include "onnx_io/model_io.h"
#include "passes/core/pass_manager.h"
#include "passes/pass_registry.h"

namespace scalec::cli {

namespace {

struct RunOptions {
  std::string source, passes, output, report, data, val, calib, labels, html;
  bool in_place = false, print_pipeline = false, verify_each = false;
  std::optional<int64_t> target_opset;
  GateOptions gates;
};

// A registered fine-grained pass standing as a pipeline step (calibration data from the pipeline's).
class PassStage final : public Stage {
 public:
  // `spec` must name a registered pass (the pipeline creates one to check it first).
  explicit PassStage(passes::PassSpec spec) : spec_(std::move(spec)), text_(passes::create_pass(spec_)->text()) {}
  std::string name() const override { return spec_.name; }
  std::string output_tag() const override { return "compressed"; }
  void add_options(CLI::App*) override {}
  std::vector<std::pair<std::string, std::string>> inputs() const override { return {{"calib", calib_}}; }
  void set_data(const std::string&, const std::string& val, const std::string& calib, const std::string& labels) override {
    calib_ = calib;
    val_ = val;
    if (!labels.empty()) labels_ = labels;
  }
  std::string pipeline_text() const override { return text_; }
  EvalSpec eval_spec() const override { return {val_, labels_, "", 32, 0}; }
  StageResult run(ir::Model& model, const ir::Model&) override {
    std::optional<DataStream> data;
    passes::PassContext ctx;
    if (!calib_.empty()) {
      data.emplace(model, calib_, labels_);
      ctx.calib = {data->samples(), [&data](int64_t b, int64_t e) { return data->batch(b, e); }};
      ctx.calib_batch = batch_size_for(model, 32, data->samples());
    }
    ctx.verify_each = verify_each;
    passes::PassManager pm;
    pm.add(passes::create_pass(spec_));
    const std::vector<passes::PassRun> runs = pm.run(model, ctx);
    StageResult r;
    r.report = ctx.report;
    for (const passes::PassRun& run : runs) {
      r.steps.push_back(run.text);
      r.text += run.summary + "\n";
    }
    return r;
  }

 private:
  passes::PassSpec spec_;
  std::string text_;
  std::string calib_, val_, labels_ = "labels";
};

// A step as the pipeline names it, before its options are parsed.
struct Step {
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;  // key (no dashes), value
  std::string keep;                                           // write this step's model here too
  std::string where;                                          // "file:line:col" (YAML) or "" (text)
};

struct Pipeline {
  std::string model, output;
  std::string data, val, calib, labels;
  std::vector<Step> steps;
  GateOptions gates;
};

[[noreturn]] void schema_error(const std::string& where, const std::string& what) {
  throw Error(ExitCode::kBadInput, where.empty() ? what : where + ": " + what);
}

std::string mark_of(const std::string& file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return fmt::format("{}:{}:{}", file, m.line + 1, m.column + 1);
}

// Keys whose values are files: relative to the pipeline file's folder.
bool is_path_key(const std::string& key) {
  return key == "data" || key == "val" || key == "calib" || key == "checkpoint" || key == "keep" || key == "model" ||
         key == "train" || key == "teacher";
}

std::string resolve(const std::filesystem::path& base, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (base / path).lexically_normal().string();
}

std::string scalar(const std::string& file, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) schema_error(mark_of(file, n), fmt::format("'{}' takes a single value", key));
  return n.as<std::string>();
}

Pipeline read_pipeline_file(const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw_bad_input("cannot read pipeline file '{}'", file);
  } catch (const YAML::ParserException& e) {
    throw Error(ExitCode::kBadInput, fmt::format("{}:{}:{}: YAML error: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsMap()) schema_error(file, "a pipeline file is a map with model, stages and optionally output, data, gates");
  const std::filesystem::path base = std::filesystem::path(file).parent_path();
  Pipeline p;
  bool have_stages = false;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    const std::string where = mark_of(file, kv.first);
    if (key == "model") {
      p.model = resolve(base, scalar(file, v, key));
    } else if (key == "output") {
      p.output = resolve(base, scalar(file, v, key));
    } else if (key == "data") {
      if (!v.IsMap()) schema_error(mark_of(file, v), "'data' is a map: {train, val, calib, labels}");
      for (const auto& d : v) {
        const std::string k = d.first.as<std::string>();
        const std::string value = scalar(file, d.second, k);
        if (k == "train") p.data = resolve(base, value);
        else if (k == "val") p.val = resolve(base, value);
        else if (k == "calib") p.calib = resolve(base, value);
        else if (k == "labels") p.labels = value;
        else schema_error(mark_of(file, d.first), fmt::format("unknown data key '{}' (train, val, calib, labels)", k));
      }
    } else if (key == "gates") {
      if (!v.IsMap()) schema_error(mark_of(file, v), "'gates' is a map: {max-accuracy-drop, max-size, min-speedup}");
      for (const auto& g : v) {
        const std::string k = g.first.as<std::string>();
        try {
          if (k == "max-accuracy-drop") p.gates.max_accuracy_drop = g.second.as<double>();
          else if (k == "max-size") p.gates.max_size = g.second.as<int64_t>();
          else if (k == "min-speedup") p.gates.min_speedup = g.second.as<double>();
          else schema_error(mark_of(file, g.first), fmt::format("unknown gate '{}' (max-accuracy-drop, max-size, min-speedup)", k));
        } catch (const YAML::BadConversion&) {
          schema_error(mark_of(file, g.second), fmt::format("gate '{}' takes a number", k));
        }
      }
    } else if (key == "stages") {
      have_stages = true;
      if (!v.IsSequence() || v.size() == 0) schema_error(mark_of(file, v), "'stages' is a non-empty list");
      for (const auto& item : v) {
        Step s;
        s.where = mark_of(file, item);
        YAML::Node options;
        if (item.IsScalar()) {
          s.name = item.as<std::string>();
        } else if (item.IsMap() && item.size() == 1) {
          s.name = item.begin()->first.as<std::string>();
          options = item.begin()->second;
        } else {
          schema_error(s.where, "a stage is a name or a one-key map: '- quantize: {bits: 8}'");
        }
        if (options && !options.IsNull()) {
          if (!options.IsMap()) schema_error(mark_of(file, options), fmt::format("the options of '{}' are a map", s.name));
          for (const auto& o : options) {
            const std::string k = o.first.as<std::string>();
            if (o.second.IsSequence()) {
              for (const auto& e : o.second) s.options.emplace_back(k, scalar(file, e, k));
            } else {
              std::string value = scalar(file, o.second, k);
              if (is_path_key(k)) value = resolve(base, value);
              if (k == "keep") s.keep = value;
              else s.options.emplace_back(k, value);
            }
          }
        }
        p.steps.push_back(std::move(s));
      }
    } else {
      schema_error(where, fmt::format("unknown key '{}' (model, output, data, stages, gates)", key));
    }
  }
  if (p.model.empty()) schema_error(file, "no 'model:' to read");
  if (!have_stages) schema_error(file, "no 'stages:' to run");
  return p;
}

// Pass text: each item is a stage with its options, or a registered pass.
std::vector<Step> read_pass_text(const std::string& text) {
  std::vector<Step> steps;
  for (passes::PassSpec& spec : passes::parse_pipeline(text)) {
    Step s{spec.name, {}, {}, {}};
    for (auto& [k, v] : spec.options) {
      if (k == "keep") {
        s.keep = v;
        continue;
      }
      // A list value (`skip=conv1,conv2`) is one repeated option; scalars stay whole.
      s.options.emplace_back(k, v);
    }
    steps.push_back(std::move(s));
  }
  return steps;
}

// The stage a step names, its options parsed by the stage's own command-line definition.
std::unique_ptr<Stage> make_step(const Step& step, bool from_file) {
  const ExitCode code = from_file ? ExitCode::kBadInput : ExitCode::kUsage;
  auto fail = [&](const std::string& what) {
    throw Error(code, step.where.empty() ? what : step.where + ": " + what);
  };
  std::unique_ptr<Stage> stage = make_stage(step.name);
  if (!stage) {
    passes::PassSpec spec{step.name, step.options};
    try {
      return std::make_unique<PassStage>(spec);
    } catch (const Error& e) {
      std::string stages;
      for (const std::string& n : stage_names()) stages.append(stages.empty() ? "" : ", ").append(n);
      if (std::string(e.what()).starts_with("unknown pass")) fail(fmt::format("{}; stages: {}", e.what(), stages));
      fail(e.what());
    }
  }
  CLI::App parser{"", step.name};
  stage->add_options(&parser);
  std::vector<std::string> args;
  for (const auto& [key, value] : step.options) {
    const std::string flag = "--" + key;
    const CLI::Option* opt = nullptr;
    try {
      opt = parser.get_option(flag);
    } catch (const CLI::OptionNotFound&) {
      fail(fmt::format("{} has no option '{}' (run 'scalec {} --help')", step.name, key, step.name));
    }
    if (opt->get_expected_min() == 0) {  // a flag: true sets it, false leaves it off
      if (value == "true") args.push_back(flag);
      else if (value != "false") fail(fmt::format("{}: '{}' is a flag: true or false, got '{}'", step.name, key, value));
      continue;
    }
    args.push_back(flag);
    args.push_back(value);
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector of arguments last first
  try {
    parser.parse(args);
  } catch (const CLI::ParseError& e) {
    fail(fmt::format("{}: {}", step.name, e.what()));
  }
  return stage;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run a pipeline of stages (a YAML file, or a model and --passes text), with gates");
  add_run_options(cmd);
  cmd->add_option("pipeline", o->source, "Pipeline file (.yaml/.yml), or an ONNX model with --passes")->required();
  cmd->add_option("--passes", o->passes, "Pass text: 'prune<sparsity=0.5;epochs=1>,quantize<bits=8>' (with a model)");
  cmd->add_option("-o", o->output, "Output model (default: the file's output, else <stem>.compressed.onnx beside the model)");
  cmd->add_flag("--in-place", o->in_place, "Allow -o to be the input model");
  cmd->add_option("--data", o->data, "Training data for the stages that train (the file's data: train)");
  cmd->add_option("--val", o->val, "Validation data (the file's data: val)");
  cmd->add_option("--calib", o->calib, "Calibration data (the file's data: calib)");
  cmd->add_option("--labels", o->labels, "Key of the labels array");
  cmd->add_option("--report", o->report, "Write a JSON report to PATH ('-' for stdout)");
  cmd->add_option("--html", o->html, "Write the report as a page with charts (self-contained HTML) to PATH");
  cmd->add_flag("--print-pipeline", o->print_pipeline, "Print the expanded pipeline, then stop");
  cmd->add_flag("--verify-each", o->verify_each, "Verify the model after every pass (a pass that breaks it exits 70)");
  add_target_opset_option(cmd, o->target_opset);
  add_gate_options(cmd, o->gates);
  cmd->callback([o] {
    const bool from_file = o->source.ends_with(".yaml") || o->source.ends_with(".yml");
    Pipeline p;
    if (from_file) {
      if (!o->passes.empty()) throw Error(ExitCode::kUsage, "--passes goes with a model, not with a pipeline file");
      p = read_pipeline_file(o->source);
    } else {
      if (o->passes.empty()) {
        throw Error(ExitCode::kUsage, fmt::format("'{}' is not a pipeline file (.yaml): give a model with --passes TEXT", o->source));
      }
      p.model = o->source;
      p.steps = read_pass_text(o->passes);
    }
    // The command line wins over the file.
    if (!o->output.empty()) p.output = o->output;
    if (!o->data.empty()) p.data = o->data;
    if (!o->val.empty()) p.val = o->val;
    if (!o->calib.empty()) p.calib = o->calib;
    if (!o->labels.empty()) p.labels = o->labels;
    if (o->gates.max_accuracy_drop) p.gates.max_accuracy_drop = o->gates.max_accuracy_drop;
    if (o->gates.max_size) p.gates.max_size = o->gates.max_size;
    if (o->gates.min_speedup) p.gates.min_speedup = o->gates.min_speedup;
    if (p.output.empty()) p.output = default_output(p.model, "compressed");

    // Every step is parsed and checked before any work.
    std::vector<std::unique_ptr<Stage>> stages;
    std::vector<std::string> texts;
    for (const Step& step : p.steps) {
      std::unique_ptr<Stage> s = make_step(step, from_file);
      s->set_data(p.data, p.val, p.calib, p.labels);
      try {
        s->check();
      } catch (const Error& e) {
        throw Error(from_file ? ExitCode::kBadInput : e.code(), step.where.empty() ? e.what() : step.where + ": " + e.what());
      }
      texts.push_back(s->pipeline_text());
      stages.push_back(std::move(s));
    }
    EvalSpec eval = stages.back()->eval_spec();
    eval.val = p.val;
    if (!p.labels.empty()) eval.labels = p.labels;
    check_gate_inputs(p.gates, eval, stages.back()->output_runs_in_scalec());
    if (o->print_pipeline) {
      std::string t;
      for (const std::string& s : texts) t.append(t.empty() ? "" : ",").append(s);
      std::printf("%s\n", t.c_str());
      return;
    }

    OutputSet files;
    files.allow_in_place(o->in_place);
    files.input("model", p.model);
    if (from_file) files.input("pipeline", o->source);
    for (const auto& s : stages) {
      for (const auto& [flag, path] : s->inputs()) files.input(flag, path);
    }
    files.output("-o", p.output);
    files.output("--report", o->report);
    files.output("--html", o->html);
    for (size_t i = 0; i < stages.size(); ++i) {
      if (!p.steps[i].keep.empty()) files.output(fmt::format("keep (stage {})", i + 1), p.steps[i].keep);
      for (const auto& [flag, path] : stages[i]->side_outputs()) files.output(flag, path);
    }
    files.check();

    ir::Model model = onnx_io::load_model(p.model);
    files.model_data("model", model);
    const int64_t bytes_before = model_bytes(p.model, onnx_io::external_data_files(model));
    canonicalize_for_passes(model);
    check_target_opset(model, o->target_opset);
    ir::Model original = onnx_io::load_model(p.model);  // gates, before figures, a teacher
    canonicalize_for_passes(original);

    std::vector<std::string> all_steps;
    nlohmann::json stage_reports = nlohmann::json::array();
    std::string text;
    std::vector<std::string> missed;  // targets the stages missed: exit 3 once every output is written
    for (size_t i = 0; i < stages.size(); ++i) {
      Stage& s = *stages[i];
      spdlog::info("stage {} of {}: {}", i + 1, stages.size(), s.name());
      s.verify_each = o->verify_each;
      s.quiet_epochs = o->report == "-";
      s.input_file = p.model;
      StageResult r = s.run(model, original);
      if (r.target_missed) missed.push_back(fmt::format("stage {} ({}): {}", i + 1, s.name(), *r.target_missed));
      all_steps.insert(all_steps.end(), r.steps.begin(), r.steps.end());
      std::string pipeline;
      for (const std::string& st : r.steps) pipeline.append(pipeline.empty() ? "" : ",").append(st);
      r.report["stage"] = s.name();
      r.report["pipeline"] = pipeline;
      stage_reports.push_back(r.report);
      text += fmt::format("== stage {}: {} ==\n{}", i + 1, s.name(), r.text);
      if (!p.steps[i].keep.empty()) {
        onnx_io::SaveOptions save;
        save.passes = all_steps;
        save.commit_group = files.group();
        onnx_io::save_model(model, p.steps[i].keep, save);
        text += fmt::format("kept         {}\n", p.steps[i].keep);
      }
    }
    StageResult upgrade;
    apply_target_opset(model, o->target_opset, upgrade);
    all_steps.insert(all_steps.end(), upgrade.steps.begin(), upgrade.steps.end());
    text += upgrade.text;
    onnx_io::SaveOptions save;
    save.passes = all_steps;
    save.commit_group = files.group();
    onnx_io::save_model(model, p.output, save);
    // Measured afresh on the pipeline's val: the stages' own figures may be on other data.
    const std::vector<GateResult> gates =
        measure_gates(p.gates, original, model, written_model_bytes(files, p.output), eval, std::nullopt, std::nullopt);
    std::string pipeline;
    for (const std::string& st : all_steps) pipeline.append(pipeline.empty() ? "" : ",").append(st);
    nlohmann::json j = report_header("run", {{"model", p.model}, {"pipeline_file", from_file ? o->source : ""},
                                             {"data", p.data}, {"val", p.val}, {"calib", p.calib}});
    j["output_file"] = p.output;
    j["pipeline"] = pipeline;
    j["stages"] = stage_reports;
    j["size"] = {{"before_bytes", bytes_before}, {"after_bytes", written_model_bytes(files, p.output)}};
    if (p.gates.any()) j["gates"] = gates_json(gates);
    report_footer(j);
    if (!o->report.empty()) write_report(j, o->report, files.group());
    if (!o->html.empty()) write_html_report(j, o->html, files.group());
    files.commit();  // a missed gate (exit 3) still leaves every output
    if (o->report != "-") {
      text += fmt::format("== pipeline ==\n{}\nwrote        {}\n", pipeline, p.output) + gates_text(gates);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    if (!missed.empty()) {
      std::string all;
      for (const std::string& m : missed) all.append(all.empty() ? "" : "; ").append(m);
      throw Error(ExitCode::kTargetMissed, all);
    }
    throw_if_gate_missed(gates);
  });
}

}  // namespace scalec::cli
