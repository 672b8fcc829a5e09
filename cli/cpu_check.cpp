// Start-up CPU check. scalec is built for x86-64-v3 (AVX2 + FMA); on an older CPU it would die on
// an illegal instruction, so this runs before any other initializer and says so instead.
#include <cstdio>
#include <cstdlib>

namespace {

__attribute__((constructor(101))) void scalec_check_cpu() {
  __builtin_cpu_init();
  bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
  if (!ok) {
    std::fputs("scalec: error: this CPU lacks AVX2/FMA/BMI2 (x86-64-v3), which this build of scalec requires; "
               "rebuild with -DSCALEC_MARCH=x86-64 to run here\n", stderr);
    std::_Exit(70);
  }
}

}  // namespace
