#pragma once
// remove-dropout: Dropout is the identity at inference; training exports drop it.
//
//   Before: x -> Dropout -> y -> consumers        After: x -> consumers
//           (y a graph output: x -> Identity -> y, so the model keeps its output names)
//
// Preconditions: the Dropout's mask output (if declared) is unused. Its ratio and training_mode
// initializers go too when nothing else reads them.
#include "passes/core/pass.h"

namespace scalec::passes {

/// Removes Dropout nodes of the main graph whose mask nobody reads.
class RemoveDropout final : public Pass {
 public:
  std::string name() const override { return "remove-dropout"; }
  std::string run(ir::Model& model) override;
};

}  // namespace scalec::passes
