// scalec infer: run a model on a data file and write every output, under its name, to an .npz.
#include <algorithm>
#include <chrono>
#include <map>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/run_options.h"
#include "cli/dataset.h"
#include "cli/output_set.h"
#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {
struct InferOptions {
  std::string model, data, output, labels = "labels";
  int64_t batch = 32;
  SplitOptions split;
  int threads = 0;
  bool no_fold_bn = false;
  std::vector<std::string> carry;  // OUT=IN: a streaming model's state fed back sample after sample
};

// --carry OUT=IN pairs, checked against the model: OUT an output, IN an input the data feeds.
std::vector<std::pair<std::string, std::string>> carried(const ir::Model& m, const std::vector<std::string>& pairs) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& p : pairs) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == p.size()) {
      throw Error(ExitCode::kUsage, fmt::format("--carry '{}': expected OUTPUT=INPUT", p));
    }
    std::string o = p.substr(0, eq), i = p.substr(eq + 1);
    const auto& outs = m.graph->outputs;
    const auto& ins = m.graph->inputs;
    if (std::none_of(outs.begin(), outs.end(), [&](const ir::Value* v) { return v->name() == o; })) {
      throw_bad_input("--carry {}: the model has no output named '{}'", p, o);
    }
    if (std::none_of(ins.begin(), ins.end(), [&](const ir::Value* v) { return v->name() == i && !v->is_initializer(); })) {
      throw_bad_input("--carry {}: the model has no input named '{}'", p, i);
    }
    out.emplace_back(std::move(o), std::move(i));
  }
  return out;
}
}  // namespace

void add_infer_command(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  CLI::App* cmd = app.add_subcommand("infer", "Run a model on data (.npz/.npy) and write its outputs to an .npz");
  add_run_options(cmd);
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--data", o->data, "Input arrays named after the model's inputs (.npz, or .npy for one input)")->required();
  cmd->add_option("-o,--output", o->output, "Output .npz (one array per model output)")->required();
  cmd->add_option("--labels", o->labels, "Key of the labels array in the data, ignored here");
  cmd->add_option("--batch", o->batch, "Samples per run (default 32; 0: all arrays exactly as given, in one run)")
      ->check(CLI::NonNegativeNumber);
  add_split_options(cmd, o->split, true);
  cmd->add_option("--threads", o->threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-fold-bn", o->no_fold_bn, "Run BatchNormalization as it is instead of folding it into the Conv before it");
  CLI::Option* carry_option = cmd->add_option("--carry", o->carry,
                                       "OUTPUT=INPUT: feed this output back as that input for the next sample (a streaming "
                                       "model's state; repeatable). Runs one sample at a time; the data's INPUT (e.g. with "
                                       "--whole) is the first sample's state");
  CLI::Option* batch_option = cmd->get_option("--batch");
  carry_option->excludes(batch_option);
  cmd->callback([o] {
    OutputSet files;
    files.input("model", o->model);
    files.input("--data", o->data);
    files.output("-o", o->output);
    files.check();
    ir::Model model = onnx_io::load_model(o->model);
    files.model_data("model", model);
    canonicalize_for_passes(model);
    const std::vector<std::pair<std::string, std::string>> carry = carried(model, o->carry);
    if (!carry.empty()) o->batch = 1;  // each sample's state is the one before's output
    Dataset data = load_dataset(model, o->data, o->labels, sample_axes(model, o->batch, o->split, true));
    prepare_for_inference(model, !o->no_fold_bn);
    kernels::ExecutorOptions opts;
    opts.threads = o->threads;
    kernels::Executor exec(model, opts);
    int64_t batch = batch_size_for(model, o->batch, data.samples, data.axes);
    std::vector<std::vector<ir::Tensor>> parts;
    std::vector<std::string> names;
    std::vector<int64_t> rows;
    auto start = std::chrono::steady_clock::now();
    size_t peak_activations = 0;
    std::map<std::string, ir::Tensor> state;  // --carry: input name -> the last run's output
    for (auto [b, end] : run_ranges(data.samples, batch, data.axes)) {
      kernels::NamedTensors feeds = batch_of(data, b, end);
      for (auto& [name, t] : feeds) {
        auto it = state.find(name);
        if (it == state.end()) continue;
        if (it->second.shape() != t.shape() || it->second.dtype() != t.dtype()) {
          throw_bad_input("--carry into '{}': the output is {} {}, the input {} {}", name, ir::dtype_name(it->second.dtype()),
                          ir::shape_to_string(it->second.shape()), ir::dtype_name(t.dtype()), ir::shape_to_string(t.shape()));
        }
        t = it->second;
      }
      kernels::NamedTensors outs = exec.run(feeds);
      for (const auto& [from, into] : carry) {
        for (const auto& [name, t] : outs) {
          if (name == from) state[into] = t;
        }
      }
      rows.push_back(end - b);
      peak_activations = std::max(peak_activations, exec.last_stats().peak_activation_bytes);
      if (parts.empty()) parts.resize(outs.size());
      for (size_t i = 0; i < outs.size(); ++i) {
        if (names.size() < outs.size()) names.push_back(outs[i].first);
        parts[i].push_back(std::move(outs[i].second));
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<onnx_io::NamedTensor> result;
    bool off_axis0 = false;  // some input counts samples on another axis (a state [dirs, N, H])
    for (const auto& [name, axis] : data.axes.axes) off_axis0 = off_axis0 || axis > 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      result.emplace_back(names[i], join_runs(parts[i], rows, names[i],
                                              declared_sample_axis(model, names[i], data.axes), off_axis0));
    }
    onnx_io::write_npz(o->output, result, files.group());
    files.commit();
    spdlog::info("{} samples in {:.3f} s ({:.1f} samples/s), peak activations {:.1f} MB, peak RSS {:.1f} MB; wrote {}",
                 data.samples, seconds, static_cast<double>(data.samples) / std::max(seconds, 1e-9),
                 static_cast<double>(peak_activations) / 1e6, static_cast<double>(peak_rss_bytes()) / 1e6, o->output);
  });
}

}  // namespace scalec::cli
