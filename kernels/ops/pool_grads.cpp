// Backward rules of the pool family.
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

void register_pool_grads(OpRegistry& r) { (void)r; }

}  // namespace scalec::kernels
