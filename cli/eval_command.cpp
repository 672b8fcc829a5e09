// scalec eval: accuracy (top-1, top-5) when the data has labels, throughput and peak memory.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/html_report.h"
#include "cli/output_set.h"
#include "cli/run_options.h"
#include "cli/dataset.h"
#include "ir/error.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {

struct EvalOptions {
  std::string model, data, labels = "labels", output_name, report, html;
  int64_t batch = 32;
  SplitOptions split;
  int threads = 0;
  bool no_fold_bn = false;
};

// Label i, exactly (a double would round int64 labels past 2^53: 2^63-1 printed as -2^63).
int64_t label_at(const ir::Tensor& labels, int64_t i) {
  const std::byte* p = labels.bytes().data();
  auto load = [&]<typename T>(T) {
    T v;
    std::memcpy(&v, p + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    return v;
  };
  switch (labels.dtype()) {
    case ir::DType::kInt64: return load(int64_t{});
    case ir::DType::kUInt64: {
      const uint64_t v = load(uint64_t{});
      if (v > static_cast<uint64_t>(INT64_MAX)) throw_bad_input("label {} of sample {} is outside the model's classes", v, i);
      return static_cast<int64_t>(v);
    }
    case ir::DType::kInt32: return load(int32_t{});
    case ir::DType::kUInt32: return load(uint32_t{});
    case ir::DType::kInt16: return load(int16_t{});
    case ir::DType::kUInt16: return load(uint16_t{});
    case ir::DType::kInt8: return load(int8_t{});
    case ir::DType::kUInt8: return load(uint8_t{});
    default: return static_cast<int64_t>(labels.element_as_double(i));  // the data check admits integers only
  }
}

// Counts how often the label is the arg-max (top-1) and among the 5 largest scores (top-5).
struct TopK {
  int64_t top1 = 0, top5 = 0, seen = 0;

  void add(const ir::Tensor& scores, const ir::Tensor& labels, int64_t first_label, const std::string& output) {
    if (scores.rank() != 2) {
      throw_bad_input("output '{}' has shape {}; accuracy needs [N, classes] scores", output,
                      ir::shape_to_string(scores.shape()));
    }
    int64_t n = scores.shape()[0], classes = scores.shape()[1];
    std::vector<double> row(static_cast<size_t>(classes));
    std::vector<int64_t> order(static_cast<size_t>(classes));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = 0; c < classes; ++c) row[static_cast<size_t>(c)] = scores.element_as_double(i * classes + c);
      const int64_t label = label_at(labels, first_label + i);
      if (label < 0 || label >= classes) {
        throw_bad_input("label {} of sample {} is outside the model's {} classes", label, first_label + i, classes);
      }
      // Rank of the label: how many classes score strictly higher (ties count for the label).
      int64_t higher = 0;
      for (int64_t c = 0; c < classes; ++c) higher += row[static_cast<size_t>(c)] > row[static_cast<size_t>(label)];
      top1 += higher == 0;
      top5 += higher < 5;
      ++seen;
    }
  }
};

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure accuracy (with labels), throughput and peak memory on data");
  add_run_options(cmd);
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--data", o->data, "Evaluation data (.npz with arrays named after the inputs, plus labels)")->required();
  cmd->add_option("--labels", o->labels, "Key of the labels array (integer class indices, shape [N])");
  cmd->add_option("--output", o->output_name, "Model output that holds the scores (default: the first)");
  cmd->add_option("--batch", o->batch, "Samples per run (default 32; 0: all arrays exactly as given, in one run)")
      ->check(CLI::NonNegativeNumber);
  add_split_options(cmd, o->split);
  cmd->add_option("--threads", o->threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-fold-bn", o->no_fold_bn, "Run BatchNormalization as it is instead of folding it into the Conv before it");
  cmd->add_option("--report", o->report, "Write a JSON report to PATH ('-' for stdout)");
  cmd->add_option("--html", o->html, "Write the report as a page with charts (self-contained HTML) to PATH");
  cmd->callback([o] {
    OutputSet files;
    files.input("model", o->model);
    files.input("--data", o->data);
    files.output("--report", o->report);
    files.output("--html", o->html);
    files.check();
    ir::Model model = onnx_io::load_model(o->model);
    files.model_data("model", model);
    canonicalize_for_passes(model);
    size_t output_index = 0;
    if (!o->output_name.empty()) {
      auto& outs = model.graph->outputs;
      auto it = std::find_if(outs.begin(), outs.end(), [&](const ir::Value* v) { return v->name() == o->output_name; });
      if (it == outs.end()) {
        std::string names;
        for (const ir::Value* v : outs) names += (names.empty() ? "'" : ", '") + v->name() + "'";
        throw Error(ExitCode::kUsage, fmt::format("--output '{}' is not an output of the model (it has {})", o->output_name, names));
      }
      output_index = static_cast<size_t>(it - outs.begin());
    }
    Dataset data = load_dataset(model, o->data, o->labels, sample_axes(model, o->batch, o->split));
    if (data.samples == 0) throw_bad_input("'{}' holds no samples (axis 0 is 0): there is nothing to evaluate", o->data);
    prepare_for_inference(model, !o->no_fold_bn);
    kernels::ExecutorOptions opts;
    opts.threads = o->threads;
    kernels::Executor exec(model, opts);
    int64_t batch = batch_size_for(model, o->batch, data.samples, data.axes);
    TopK acc;
    size_t peak_activations = 0;
    auto start = std::chrono::steady_clock::now();
    for (auto [b, end] : run_ranges(data.samples, batch, data.axes)) {
      kernels::NamedTensors outs = exec.run(batch_of(data, b, end));
      peak_activations = std::max(peak_activations, exec.last_stats().peak_activation_bytes);
      if (!data.labels) continue;
      const ir::Tensor& scores = outs.at(output_index).second;
      if (scores.rank() >= 1 && scores.shape()[0] != end - b) {
        throw_bad_input("output '{}' has {} rows of scores for {} labels; accuracy needs one row per sample",
                        outs[output_index].first, scores.shape()[0], end - b);
      }
      acc.add(scores, *data.labels, b, outs[output_index].first);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double throughput = static_cast<double>(data.samples) / std::max(seconds, 1e-9);

    nlohmann::json j = report_header("eval", {{"model", o->model}, {"data", o->data}});
    j["samples"] = data.samples;
    j["batch"] = batch;
    j["threads"] = exec.pool_threads();
    j["output_name"] = model.graph->outputs[output_index]->name();
    if (data.labels) {
      j["top1"] = static_cast<double>(acc.top1) / static_cast<double>(acc.seen);
      j["top5"] = static_cast<double>(acc.top5) / static_cast<double>(acc.seen);
    }
    j["run_seconds"] = seconds;  // the timed runs; "seconds" is the whole command
    j["samples_per_second"] = throughput;
    j["peak_activation_bytes"] = peak_activations;
    report_footer(j);
    std::string text;
    if (data.labels) {
      text += fmt::format("top-1        {:.2f}% ({} of {})\n", 100.0 * j["top1"].get<double>(), acc.top1, acc.seen);
      text += fmt::format("top-5        {:.2f}%\n", 100.0 * j["top5"].get<double>());
    }
    text += fmt::format("throughput   {:.1f} samples/s ({} samples, batch {}, {} threads, {:.3f} s)\n", throughput,
                        data.samples, batch, exec.pool_threads(), seconds);
    text += fmt::format("peak memory  {:.1f} MB activations, {:.1f} MB resident\n",
                        static_cast<double>(peak_activations) / 1e6, static_cast<double>(peak_rss_bytes()) / 1e6);
    if (!o->report.empty()) write_report(j, o->report, files.group());
    if (!o->html.empty()) write_html_report(j, o->html, files.group());
    files.commit();
    if (o->report != "-") std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

}  // namespace scalec::cli
