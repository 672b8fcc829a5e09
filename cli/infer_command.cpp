// scalec infer: run a model on a data file and write every output, under its name, to an .npz.
#include <chrono>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/run_options.h"
#include "cli/dataset.h"
#include "cli/output_set.h"
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
};
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
  cmd->callback([o] {
    OutputSet files;
    files.input("model", o->model);
    files.input("--data", o->data);
    files.output("-o", o->output);
    files.check();
    ir::Model model = onnx_io::load_model(o->model);
    files.model_data("model", model);
    canonicalize_for_passes(model);
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
    for (auto [b, end] : run_ranges(data.samples, batch, data.axes)) {
      kernels::NamedTensors outs = exec.run(batch_of(data, b, end));
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
