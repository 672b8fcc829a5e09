// Backward rules of the nn family.
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

void register_nn_grads(OpRegistry& r) { (void)r; }

}  // namespace scalec::kernels
