#pragma once
// scalec as a C++ library: load an ONNX model, canonicalize other toolchains' exports, run a
// pipeline of registered passes given as text, save. The same code the scalec command runs.
//
//   find_package(scalec REQUIRED)
//   target_link_libraries(app PRIVATE scalec::scalec)
//
//   #include <scalec/scalec.h>
//   scalec::ir::Model m = scalec::load_model("model.onnx");
//   scalec::canonicalize(m);
//   scalec::PipelineResult r = scalec::run_pipeline(m, "prune-magnitude<sparsity=0.5>");
//   scalec::save_model(m, "model.pruned.onnx", r);
//
// Errors are scalec::Error (ir/error.h) with the exit code the command line would give.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace scalec {

/// scalec's version ("0.1.0").
const char* version();

/// Reads an ONNX model (external data beside it), checked as the command line checks it.
ir::Model load_model(const std::string& path);

/// Canonicalizes a model for the passes as every command does (weights held in Constant nodes
/// become initializers, shapes inferred, ...; docs/io.md). Returns a one-line summary.
std::string canonicalize(ir::Model& model);

/// How run_pipeline runs.
struct PipelineOptions {
  std::string calib;        ///< calibration data (.npz named after the inputs) for passes that need it
  int64_t calib_batch = 32; ///< samples per calibration run
  int threads = 0;          ///< 0: the CPUs this process may use
  uint64_t seed = 0;
  bool verify_each = false; ///< verify the model after every pass (a pass that breaks it throws)
};

/// What a pipeline did.
struct PipelineResult {
  std::vector<std::string> passes;     ///< each pass's text with every option (`name<k=v;...>`)
  std::vector<std::string> summaries;  ///< each pass's one-line summary
};

/// Runs passes given as pipeline text (`prune-magnitude<sparsity=0.5>,quantize-qdq<bits=8>`; the
/// names `scalec run --passes` takes) on `model`, in place.
PipelineResult run_pipeline(ir::Model& model, const std::string& pipeline, const PipelineOptions& options = {});

/// Writes `model` atomically; the passes `result` ran are recorded in metadata_props
/// (scalec.passes), as the command line records them.
void save_model(const ir::Model& model, const std::string& path, const PipelineResult& result = {});

}  // namespace scalec
