#pragma once
// scalec's error type: every failure a user can cause carries the exit code DESIGN.md assigns it.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace scalec {

/// Process exit codes shared by every subcommand (DESIGN.md, "Exit codes").
enum class ExitCode : int {
  kOk = 0,
  kUsage = 1,
  kBadInput = 2,
  kTargetMissed = 3,
  kIoError = 4,
  kInternal = 70,
};

/// An error with a user-facing message and the exit code it maps to.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

/// Invalid or unsupported model or data (exit code 2).
template <typename... Args>
[[noreturn]] void throw_bad_input(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::kBadInput, fmt::format(f, std::forward<Args>(args)...));
}

/// Failure to read or write a file (exit code 4 for outputs).
template <typename... Args>
[[noreturn]] void throw_io_error(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::kIoError, fmt::format(f, std::forward<Args>(args)...));
}

/// A broken invariant inside scalec (exit code 70).
template <typename... Args>
[[noreturn]] void throw_internal(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::kInternal, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace scalec
