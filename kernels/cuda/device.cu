#include <cuda_runtime.h>

#include <string>

#include "kernels/device.h"

namespace scalec::kernels {

CudaStatus cuda_status() {
  CudaStatus s;
  s.compiled = true;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    s.message = std::string("CUDA error ") + std::to_string(static_cast<int>(err)) + ": " + cudaGetErrorString(err);
    return s;
  }
  s.device_count = count;
  s.message = std::to_string(count) + " CUDA device(s)";
  return s;
}

}  // namespace scalec::kernels
