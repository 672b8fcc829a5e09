// Fuzz target: data file bytes through the .npy decoder, the whole-file .npz reader and the
// streaming row reader calibration uses (CRC checks, zip methods, headers, shapes).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "fuzz/fuzz_support.h"
#include "onnx_io/data_files.h"
#include "onnx_io/npz_rows.h"

namespace {

// The readers take paths: one scratch file per process, rewritten for every input.
const std::string& scratch_path() {
  static const std::string path = "/tmp/scalec-npz-fuzz-" + std::to_string(::getpid()) + ".npz";
  return path;
}

bool write_scratch(const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(scratch_path().c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scalec;
  fuzz::limit_tensor_bytes();
  try {
    onnx_io::read_npy_bytes({reinterpret_cast<const std::byte*>(data), size}, "fuzz.npy");
  } catch (const Error&) {
  }
  if (!write_scratch(data, size)) return 0;
  try {
    onnx_io::read_npz(scratch_path());
  } catch (const Error&) {
  }
  try {
    onnx_io::NpzRowReader reader(scratch_path());
    for (const onnx_io::NpzMember& m : reader.members()) {
      if (m.shape.empty()) {
        reader.read_whole(m.name);
      } else if (m.shape[0] > 0) {
        reader.read_rows(m.name, 0, 1);
      }
    }
    reader.verify();
  } catch (const Error&) {
  }
  return 0;
}
