#include "passes/core/pass_manager.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "ir/verifier.h"

namespace scalec::passes {

std::string Pass::apply(ir::Model& model, PassContext&) { return run(model); }

std::string PassManager::pipeline_text() const {
  std::string s;
  for (const auto& p : passes_) s.append(s.empty() ? "" : ",").append(p->text());
  return s;
}

std::vector<PassRun> PassManager::run(ir::Model& model, PassContext& context) {
  std::vector<PassRun> runs;
  for (const auto& pass : passes_) {
    const auto start = std::chrono::steady_clock::now();
    PassRun r{pass->text(), pass->apply(model, context), 0};
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The summaries are the caller's to print (commands put them on stdout); timing is for -v.
    spdlog::debug("{} ({:.3f} s)", r.summary.empty() ? pass->name() : r.summary, r.seconds);
    if (context.verify_each) {
      const ir::VerifyReport v = ir::verify(model);
      if (!v.ok()) throw_internal("the model is invalid after pass {}: {}", pass->name(), v.summary());
    }
    runs.push_back(std::move(r));
  }
  return runs;
}

}  // namespace scalec::passes
