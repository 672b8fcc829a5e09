// scalec convert: load, verify and save a model — re-serialize it, or move weights to or from an
// external data file.
#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/output_set.h"
#include "kernels/exec/shape_inference.h"
#include "onnx_io/model_io.h"
#include "passes/cleanup/canonicalize.h"

namespace scalec::cli {

namespace {
struct ConvertOptions {
  std::string model;
  std::string output;
  std::string external = "auto";
  int64_t threshold = 1024;
  bool in_place = false;
  bool infer_shapes = false;
  bool canonicalize = false;
};
}  // namespace

void add_convert_command(CLI::App& app) {
  auto opts = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Load, verify and save a model (e.g. to move weights to external data)");
  cmd->add_option("model", opts->model, "ONNX model")->required();
  cmd->add_option("-o,--output", opts->output, "Output model")->required();
  cmd->add_option("--external-data", opts->external,
                  "auto: as the input (or when over 2 GB); always: tensors >= threshold go to OUTPUT.data; never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_option("--external-threshold", opts->threshold, "Smallest tensor (bytes) moved to external data")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--in-place", opts->in_place, "Allow the output to be the input file");
  cmd->add_flag("--infer-shapes", opts->infer_shapes,
                "Record every value's inferred type and shape (value_info); a recorded type that contradicts "
                "an op is an error");
  cmd->add_flag("--canonicalize", opts->canonicalize,
                "Constant weights -> initializers, fold constant subgraphs, record shapes, drop dead nodes (what "
                "quantize, prune and finetune do first)");
  cmd->callback([opts] {
    OutputSet files;
    files.allow_in_place(opts->in_place);
    files.input("model", opts->model);
    files.output("-o", opts->output);
    files.check();
    ir::Model m = onnx_io::load_model(opts->model);
    files.model_data("model", m);
    if (opts->canonicalize) {
      spdlog::info("{}", passes::Canonicalize().run(m));
    }
    if (opts->infer_shapes) {
      kernels::ShapeInferenceReport r = kernels::infer_shapes(m);
      spdlog::info("shape inference: {} node outputs typed, {} nodes without a shape rule", r.outputs_typed,
                   r.nodes_without_rule.size());
      for (const std::string& n : r.nodes_without_rule) spdlog::debug("no shape rule: {}", n);
    }
    onnx_io::SaveOptions save;
    save.external_data = opts->external == "always"  ? onnx_io::ExternalData::kAlways
                         : opts->external == "never" ? onnx_io::ExternalData::kNever
                                                     : onnx_io::ExternalData::kAuto;
    save.external_threshold = static_cast<size_t>(opts->threshold);
    if (opts->canonicalize) save.passes = {"canonicalize"};
    save.commit_group = files.group();
    onnx_io::save_model(m, opts->output, save);
    files.commit();
    spdlog::info("wrote {}", opts->output);
  });
}

}  // namespace scalec::cli
