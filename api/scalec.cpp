#include "api/scalec.h"

#include <algorithm>

#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/cleanup/canonicalize.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pass_text.h"
#include "passes/pass_registry.h"

#ifndef SCALEC_VERSION
#define SCALEC_VERSION "unknown"
#endif

namespace scalec {

namespace {

// The rows [begin, end) of every array (axis 0), for calibration batches.
kernels::NamedTensors rows_of(const std::vector<onnx_io::NamedTensor>& arrays, int64_t begin, int64_t end) {
  kernels::NamedTensors out;
  for (const auto& [name, t] : arrays) {
    std::vector<int64_t> shape = t.shape();
    const size_t row = t.storage_bytes() / static_cast<size_t>(shape[0]);
    shape[0] = end - begin;
    ir::Tensor part(t.dtype(), shape);
    std::copy_n(t.bytes().data() + static_cast<size_t>(begin) * row, static_cast<size_t>(end - begin) * row,
                part.mutable_bytes().data());
    out.emplace_back(name, std::move(part));
  }
  return out;
}

}  // namespace

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
  std::vector<onnx_io::NamedTensor> calib;
  if (!options.calib.empty()) {
    for (onnx_io::NamedTensor& array : onnx_io::read_npz(options.calib)) {
      const auto& in = model.graph->inputs;
      if (std::any_of(in.begin(), in.end(), [&](const ir::Value* v) { return v->name() == array.first && !v->is_initializer(); })) {
        calib.push_back(std::move(array));
      }
    }
    if (calib.empty() || calib.front().second.rank() == 0) {
      throw_bad_input("calibration data '{}' holds no array named after a model input", options.calib);
    }
    const int64_t samples = calib.front().second.shape()[0];
    ctx.calib = {samples, [&calib](int64_t b, int64_t e) { return rows_of(calib, b, e); }};
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
