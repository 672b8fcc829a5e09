// Fuzz target: ONNX model bytes through the loader, the verifier, shape inference and
// canonicalization (constant folding runs the CPU kernels) — what every command does first.
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "kernels/exec/shape_inference.h"
#include "onnx_io/model_io.h"
#include "passes/cleanup/canonicalize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scalec;
  fuzz::limit_tensor_bytes();
  try {
    // A folder that does not exist: external data references fail as bad input, never read.
    ir::Model model = onnx_io::load_model_from_bytes(fuzz::as_text(data, size), "/nonexistent-fuzz-dir", "fuzz.onnx");
    kernels::ShapeInferenceOptions lenient;
    lenient.strict = false;
    kernels::infer_shapes(model, lenient);
    passes::canonicalize(model);
    onnx_io::serialize_model(model);
  } catch (const Error&) {
    // Refused as bad input: the documented outcome.
  }
  return 0;
}
