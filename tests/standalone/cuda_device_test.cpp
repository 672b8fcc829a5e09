// Reports "skipped" (exit 77) when no GPU is usable, so CTest never counts a GPU test as passed
// on a machine without one. With a GPU, checks the runtime sees it.
#include <cstdio>

#include "kernels/device.h"

int main() {
  auto s = scalec::kernels::cuda_status();
  if (!s.compiled || s.device_count == 0) {
    std::printf("SKIPPED: no usable GPU (%s)\n", s.message.c_str());
    return 77;
  }
  std::printf("%s\n", s.message.c_str());
  return s.device_count > 0 ? 0 : 1;
}
