#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace scalec::cli {

namespace {
ProgressBar* drawing = nullptr;  // the bar on the terminal now (one at a time)
}  // namespace

void clear_progress_line() {
  if (!drawing || !drawing->drawn_) return;
  std::fputs("\r\x1b[K", stderr);
  drawing->drawn_ = false;
  drawing->last_draw_ = {};  // redraw at the next update
}

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)),
      active_(isatty(STDERR_FILENO) == 1 && spdlog::should_log(spdlog::level::info)),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fputs("\r\x1b[K", stderr);
  if (drawing == this) drawing = nullptr;
}

void ProgressBar::set(int64_t done) {
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < done_) {  // another pass over the same data
    ++passes_;
    start_ = now;
  }
  done_ = std::min(done, total_);
  if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;  // 10 redraws a second at most
  last_draw_ = now;
  const double frac = static_cast<double>(done_) / static_cast<double>(total_);
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int eta = frac > 0 ? static_cast<int>(elapsed * (1 - frac) / frac + 0.5) : 0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  const std::string pass = passes_ > 1 ? fmt::format(" (pass {})", passes_) : "";
  fmt::print(stderr, "\r\x1b[K{}{} {:3.0f}% [{}{}] {}/{} ETA {}:{:02d}", label_, pass, 100 * frac, std::string(filled, '#'),
             std::string(kWidth - filled, ' '), done_, total_, eta / 60, eta % 60);
  std::fflush(stderr);
  drawn_ = true;
  drawing = this;
}

}  // namespace scalec::cli
