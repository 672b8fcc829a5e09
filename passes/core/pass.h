#pragma once
// A graph rewrite: a small class with a kebab-case name that edits a model and says what it did in
// one line a user wants to read. Its options print as `name<key=value;...>` (pass_text.h), so a
// pipeline's text records exactly what ran.
#include <string>

#include "ir/graph.h"

namespace scalec::passes {

struct PassContext;

/// One graph rewrite.
class Pass {
 public:
  virtual ~Pass() = default;
  /// The name pipelines and reports use ("remove-dropout").
  virtual std::string name() const = 0;
  /// The options as `key=value;key=value` ("" when the pass has none).
  virtual std::string options_text() const { return {}; }
  /// `name<options>`, or just the name.
  std::string text() const {
    const std::string o = options_text();
    return o.empty() ? name() : name() + "<" + o + ">";
  }
  /// Rewrites `model`; returns a one-line summary ("remove-dropout: 2 Dropout nodes removed").
  virtual std::string run(ir::Model& model) = 0;
  /// run() with the pipeline's context; passes that read calibration data or share state override it.
  virtual std::string apply(ir::Model& model, PassContext& context);
};

}  // namespace scalec::passes
