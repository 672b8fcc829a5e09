#pragma once
// Shared by the libFuzzer targets: what counts as a finding. scalec::Error is the documented way to
// refuse bad input (exit 2); anything else escaping (std::out_of_range, bad_alloc, a crash, a
// sanitizer report, a hang past -timeout) is a defect the fuzzer reports.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ir/error.h"
#include "kernels/exec/run_limits.h"

namespace scalec::fuzz {

/// The bytes libFuzzer hands over, as a string_view.
inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Caps one op output at 64 MB, as `--max-tensor-bytes 64M` would: sizes a model asks for are
/// refused by the limit, not found by the allocator (libFuzzer's -malloc_limit_mb backs it up).
inline void limit_tensor_bytes() {
  kernels::set_max_tensor_bytes(size_t{64} << 20);
  kernels::set_max_loop_iterations(1000);  // a Loop that never ends is refused, not a hang past -timeout
}

}  // namespace scalec::fuzz
