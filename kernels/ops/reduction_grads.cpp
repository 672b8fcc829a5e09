// Backward rules of the reduction family.
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

void register_reduction_grads(OpRegistry& r) { (void)r; }

}  // namespace scalec::kernels
