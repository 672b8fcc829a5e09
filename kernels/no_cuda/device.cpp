#include "kernels/device.h"

namespace scalec::kernels {

CudaStatus cuda_status() { return {false, 0, "this scalec was built without CUDA (SCALEC_WITH_CUDA=OFF or no nvcc)"}; }

}  // namespace scalec::kernels
