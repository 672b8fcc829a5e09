#include "api/scalec.h"

#include <optional>

#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "onnx_io/npz_rows.h"
#include "passes/cleanup/canonicalize.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pass_text.h"
#include "passes/pass_registry.h"

#ifndef SCALEC_VERSION
#define SCALEC_VERSION "unknown"
#endif

namespace scalec {

const char* version() { return SCALEC_VERSION; }

ir::Model load_model(const std::string& path) { return onnx_io::load_model(path); }

std::string canonicalize(ir::Model& model) {
  if (model.graph->outputs.empty()) throw_bad_input("the model's graph has no outputs, so there is nothing to compute");
  return passes::canonicalize_summary(passes::canonicalize(model));
}

PipelineResult run_pipeline(ir::Model& model, const std::string& pipeline, const PipelineOptions& options) {
  passes::PassManager pm;
  for (const passes::PassSpec& spec : passes::parse_pipeline(pipeline)) pm.add(passes::create_pass(spec));
  passes::PassContext ctx;
  ctx.threads = options.threads;
  ctx.seed = options.seed;
  ctx.verify_each = options.verify_each;
  std::optional<onnx_io::NpzRowReader> calib;  // streamed: a calibration batch at a time
  std::vector<std::string> inputs;
  if (!options.calib.empty()) {
    calib.emplace(options.calib);
    std::vector<onnx_io::ArrayInfo> infos;
    for (const onnx_io::NpzMember& m : calib->members()) infos.push_back({m.name, m.dtype, m.shape});
    const int64_t samples = onnx_io::check_arrays_match(*model.graph, infos, "labels", options.calib);
    for (const ir::Value* v : model.graph->inputs) {
      if (!v->is_initializer()) inputs.push_back(v->name());
    }
    ctx.calib = {samples, [&calib, &inputs](int64_t b, int64_t e) {
                   kernels::NamedTensors batch;
                   for (const std::string& name : inputs) batch.emplace_back(name, calib->read_rows(name, b, e));
                   return batch;
                 }};
    ctx.calib_batch = options.calib_batch;
  }
  PipelineResult r;
  for (const passes::PassRun& run : pm.run(model, ctx)) {
    r.passes.push_back(run.text);
    r.summaries.push_back(run.summary);
  }
  return r;
}

void save_model(const ir::Model& model, const std::string& path, const PipelineResult& result) {
  onnx_io::SaveOptions save;
  save.passes = result.passes;
  onnx_io::save_model(model, path, save);
}

}  // namespace scalec
