#include "kernels/exec/run_limits.h"

#include <unistd.h>

#include <atomic>
#include <vector>

#include "ir/error.h"
#include "ir/printable.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {
std::atomic<size_t> g_max_tensor_bytes{0};  // 0: default_max_tensor_bytes()
std::atomic<bool> g_lenient{false};
std::atomic<int64_t> g_max_loop_iterations{0};  // 0: kDefaultLoopIterations
constexpr int64_t kDefaultLoopIterations = 10'000'000;

std::string human_bytes(size_t b) {
  const double v = static_cast<double>(b);
  if (v >= 1e12) return fmt::format("{:.1f} TB", v / 1e12);
  if (v >= 1e9) return fmt::format("{:.1f} GB", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f} MB", v / 1e6);
  return fmt::format("{} bytes", b);
}
}  // namespace

size_t default_max_tensor_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return size_t{1} << 34;  // 16 GiB when the system will not say
  return static_cast<size_t>(pages) * static_cast<size_t>(page) / 2;
}

size_t max_tensor_bytes() {
  const size_t v = g_max_tensor_bytes.load();
  return v != 0 ? v : default_max_tensor_bytes();
}

void set_max_tensor_bytes(size_t bytes) { g_max_tensor_bytes.store(bytes); }

int64_t max_loop_iterations() {
  const int64_t v = g_max_loop_iterations.load();
  return v > 0 ? v : kDefaultLoopIterations;
}

void set_max_loop_iterations(int64_t iterations) { g_max_loop_iterations.store(iterations); }

bool lenient_outputs() { return g_lenient.load(); }

void set_lenient_outputs(bool lenient) { g_lenient.store(lenient); }

std::optional<size_t> tensor_type_bytes(const ir::TypeInfo& t, const std::string& what) {
  if (t.kind != ir::TypeInfo::Kind::kTensor || !t.shape) return std::nullopt;
  int64_t numel = 1;
  bool known = true;
  for (const ir::Dim& d : *t.shape) {
    if (!d.value) {
      known = false;
      continue;
    }
    if (*d.value < 0) throw_bad_input("{} would have a negative dimension {}", what, *d.value);
    if (__builtin_mul_overflow(numel, *d.value, &numel)) {
      throw_bad_input("{} would have shape {}, whose size overflows a 64-bit count", what, ir::type_to_string(t));
    }
  }
  if (!known || t.elem_type == 0) return std::nullopt;
  int64_t bits_bound = 0;  // 8 bytes per element bounds every dtype's storage
  if (__builtin_mul_overflow(numel, int64_t{8}, &bits_bound)) {
    throw_bad_input("{} would have shape {}, whose size in bytes overflows", what, ir::type_to_string(t));
  }
  if (t.dtype() == ir::DType::kString) return static_cast<size_t>(numel) * sizeof(std::string);
  return ir::dtype_storage_bytes(t.dtype(), numel);
}

void check_output_bytes(const OpDef& op, const OpContext& ctx, size_t limit) {
  if (!op.infer) return;
  std::vector<ir::TypeInfo> types(ctx.num_inputs());
  std::vector<const ir::TypeInfo*> type_ptrs(ctx.num_inputs(), nullptr);
  std::vector<const ir::Tensor*> values(ctx.num_inputs(), nullptr);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    const ir::Tensor& x = ctx.input(i);
    types[i] = ir::TypeInfo::tensor(x.dtype(), x.shape());
    type_ptrs[i] = &types[i];
    values[i] = &x;
  }
  InferContext ictx(ctx.node(), ctx.opset(), type_ptrs, values);
  const std::vector<ir::TypeInfo> outs = op.infer(ictx);
  for (size_t i = 0; i < outs.size() && i < ctx.num_outputs(); ++i) {
    if (!ctx.output_requested(i)) continue;
    const std::string name = ir::printable(ctx.node().output(i)->name());
    const std::string what = fmt::format("{} output '{}'", ctx.where(), name);
    const std::optional<size_t> bytes = tensor_type_bytes(outs[i], what);
    if (bytes && *bytes > limit) {
      throw_bad_input("{} would allocate {} ({} bytes) for shape {}, more than --max-tensor-bytes {} ({} bytes)", what,
                      human_bytes(*bytes), *bytes, ir::type_to_string(outs[i]), human_bytes(limit), limit);
    }
  }
}

}  // namespace scalec::kernels
