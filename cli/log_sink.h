#pragma once
// The stderr logger, with control bytes escaped: log lines quote names a model supplies.
#include <memory>

#include <spdlog/logger.h>

namespace scalec::cli {

/// A colored stderr logger named `name` whose messages pass through ir::printable_text.
std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name);

}  // namespace scalec::cli
