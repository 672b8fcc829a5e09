// Backward rules of the tensor family.
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

void register_tensor_grads(OpRegistry& r) { (void)r; }

}  // namespace scalec::kernels
