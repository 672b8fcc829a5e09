#pragma once
// A one-line progress bar with ETA on stderr for long work (training epochs, calibration passes),
// drawn only when stderr is a terminal and info messages are shown: pipes, files and CI logs never
// see it (DESIGN.md "Output streams").
#include <chrono>
#include <cstdint>
#include <string>

namespace scalec::cli {

/// Clears the bar being drawn, if any (the log sink calls it before a message; the bar comes back
/// with its next update).
void clear_progress_line();

class ProgressBar {
 public:
  /// `total` units of work ("epoch 3/12" steps, calibration samples).
  ProgressBar(std::string label, int64_t total);
  /// Clears the line, so what is printed next starts clean.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  /// `done` of `total` units; a value below the last one starts another pass (the ETA restarts).
  void set(int64_t done);
  /// Whether the bar draws at all (stderr a terminal, log level info or lower).
  bool active() const { return active_; }

 private:
  friend void clear_progress_line();
  std::string label_;
  int64_t total_, done_ = 0;
  int passes_ = 1;
  bool active_ = false, drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace scalec::cli
