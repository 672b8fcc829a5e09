#pragma once
// Which accelerators this process can use. No CUDA type appears here: a build without CUDA links
// kernels/no_cuda, whose answers say so.
#include <string>

namespace scalec::kernels {

/// What the CUDA runtime reports.
struct CudaStatus {
  bool compiled = false;  ///< this binary was built with CUDA kernels
  int device_count = 0;   ///< usable GPUs (0 when the driver or a GPU is missing)
  std::string message;    ///< e.g. "CUDA driver error 35: ..." or "built without CUDA"
};

/// Queries the CUDA runtime once; any error counts as "no GPU".
CudaStatus cuda_status();

}  // namespace scalec::kernels
