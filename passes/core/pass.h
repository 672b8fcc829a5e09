#pragma once
// A graph rewrite: a small class with a kebab-case name that edits a model and says what it did in
// one line a user wants to read.
#include <string>

#include "ir/graph.h"

namespace scalec::passes {

/// One graph rewrite.
class Pass {
 public:
  virtual ~Pass() = default;
  /// The name pipelines and reports use ("remove-dropout").
  virtual std::string name() const = 0;
  /// Rewrites `model`; returns a one-line summary ("remove-dropout: 2 Dropout nodes removed").
  virtual std::string run(ir::Model& model) = 0;
};

}  // namespace scalec::passes
