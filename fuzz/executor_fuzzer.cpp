// Fuzz target: small graphs run end to end. Model bytes that load and describe at most 16 nodes
// with fully known input shapes (at most 4,096 elements each) run once in the Executor on
// deterministic inputs: kernels, broadcasting, attribute handling and the size limits under ASan.
#include <cstdint>
#include <cstring>

#include "fuzz/fuzz_support.h"
#include "kernels/exec/executor.h"
#include "onnx_io/model_io.h"

namespace {

constexpr size_t kMaxNodes = 16;
constexpr int64_t kMaxInputElements = 4096;

// A feed for graph input `v`, or false when its type is not fully known and small.
bool make_feed(const scalec::ir::Value& v, scalec::ir::Tensor* out) {
  using namespace scalec;
  if (!v.type || v.type->kind != ir::TypeInfo::Kind::kTensor || !v.type->shape) return false;
  std::vector<int64_t> dims;
  int64_t numel = 1;
  for (const ir::Dim& d : *v.type->shape) {
    if (!d.value || *d.value < 0 || *d.value > kMaxInputElements) return false;
    dims.push_back(*d.value);
    numel *= *d.value;
    if (numel > kMaxInputElements) return false;
  }
  const ir::DType dtype = v.type->dtype();
  if (dtype == ir::DType::kUndefined || dtype == ir::DType::kString) return false;
  ir::Tensor t(dtype, dims);
  std::byte* p = t.mutable_bytes().data();
  for (size_t i = 0; i < t.bytes().size(); ++i) p[i] = static_cast<std::byte>((i * 37 + 11) % 3 == 0);  // 0/1 bytes: valid bools, small numbers
  *out = std::move(t);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scalec;
  fuzz::limit_tensor_bytes();
  try {
    ir::Model model = onnx_io::load_model_from_bytes(fuzz::as_text(data, size), "/nonexistent-fuzz-dir", "fuzz.onnx");
    if (model.graph->nodes().size() > kMaxNodes || model.graph->outputs.empty()) return 0;
    kernels::NamedTensors feeds;
    for (const ir::Value* v : model.graph->inputs) {
      if (v->initializer) continue;
      ir::Tensor t;
      if (!make_feed(*v, &t)) return 0;
      feeds.emplace_back(v->name(), std::move(t));
    }
    kernels::ExecutorOptions options;
    options.threads = 1;
    kernels::Executor exec(model, options);
    exec.run(feeds);
  } catch (const Error&) {
  }
  return 0;
}
