#include "cli/log_sink.h"

#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "cli/progress.h"
#include "ir/printable.h"

namespace scalec::cli {

namespace {

// Forwards every message to `inner` with control bytes escaped (line breaks kept).
class PrintableSink final : public spdlog::sinks::sink {
 public:
  explicit PrintableSink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}
  void log(const spdlog::details::log_msg& msg) override {
    const std::string text = ir::printable_text(std::string_view(msg.payload.data(), msg.payload.size()));
    clear_progress_line();  // a message never lands in the middle of a progress bar
    spdlog::details::log_msg copy = msg;
    copy.payload = text;
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override { inner_->set_formatter(std::move(f)); }

 private:
  spdlog::sink_ptr inner_;
};

}  // namespace

std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name) {
  auto sink = std::make_shared<PrintableSink>(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  return std::make_shared<spdlog::logger>(name, std::move(sink));
}

}  // namespace scalec::cli
