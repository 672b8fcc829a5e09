// scalec infer: run a model on a data file and write every output, under its name, to an .npz.
#include <chrono>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/dataset.h"
#include "cli/output_set.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {
struct InferOptions {
  std::string model, data, output, labels = "labels";
  int64_t batch = 32;
  int threads = 0;
  bool no_fold_bn = false;
};
}  // namespace

void add_infer_command(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  CLI::App* cmd = app.add_subcommand("infer", "Run a model on data (.npz/.npy) and write its outputs to an .npz");
  cmd->add_option("model", o->model, "ONNX model")->required();
  cmd->add_option("--data", o->data, "Input arrays named after the model's inputs (.npz, or .npy for one input)")->required();
  cmd->add_option("-o,--output", o->output, "Output .npz (one array per model output)")->required();
  cmd->add_option("--labels", o->labels, "Key of the labels array in the data, ignored here");
  cmd->add_option("--batch", o->batch, "Samples per run (0: all at once)")->check(CLI::NonNegativeNumber);
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
    Dataset data = load_dataset(model, o->data, o->labels);
    prepare_for_inference(model, !o->no_fold_bn);
    kernels::ExecutorOptions opts;
    opts.threads = o->threads;
    kernels::Executor exec(model, opts);
    int64_t batch = batch_size_for(model, o->batch, data.samples);
    std::vector<std::vector<ir::Tensor>> parts;
    std::vector<std::string> names;
    auto start = std::chrono::steady_clock::now();
    size_t peak_activations = 0;
    for (int64_t b = 0; b < data.samples; b += batch) {
      kernels::NamedTensors outs = exec.run(batch_of(data, b, std::min(data.samples, b + batch)));
      peak_activations = std::max(peak_activations, exec.last_stats().peak_activation_bytes);
      if (parts.empty()) parts.resize(outs.size());
      for (size_t i = 0; i < outs.size(); ++i) {
        if (names.size() < outs.size()) names.push_back(outs[i].first);
        parts[i].push_back(std::move(outs[i].second));
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<onnx_io::NamedTensor> result;
    for (size_t i = 0; i < parts.size(); ++i) result.emplace_back(names[i], concat_rows(parts[i], names[i]));
    onnx_io::write_npz(o->output, result, files.group());
    files.commit();
    spdlog::info("{} samples in {:.3f} s ({:.1f} samples/s), peak activations {:.1f} MB, peak RSS {:.1f} MB; wrote {}",
                 data.samples, seconds, static_cast<double>(data.samples) / std::max(seconds, 1e-9),
                 static_cast<double>(peak_activations) / 1e6, static_cast<double>(peak_rss_bytes()) / 1e6, o->output);
  });
}

}  // namespace scalec::cli
