#include "passes/core/pass_text.h"

#include <cctype>

#include "ir/error.h"

namespace scalec::passes {

namespace {

[[noreturn]] void syntax_error(std::string_view text, size_t at, const std::string& what) {
  throw Error(ExitCode::kUsage, fmt::format("pipeline text '{}': {} at character {}", text, what, at + 1));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

}  // namespace

std::vector<PassSpec> parse_pipeline(std::string_view text) {
  std::vector<PassSpec> out;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip_space();
  if (i == text.size()) syntax_error(text, i, "no pass named");
  while (true) {
    skip_space();
    const size_t start = i;
    while (i < text.size() && is_name_char(text[i])) ++i;
    if (i == start) syntax_error(text, i, "expected a pass name");
    PassSpec spec{std::string(text.substr(start, i - start)), {}};
    skip_space();
    if (i < text.size() && text[i] == '<') {
      const size_t open = i++;
      const size_t close = text.find('>', i);
      if (close == std::string_view::npos) syntax_error(text, open, "'<' without its '>'");
      std::string_view body = text.substr(i, close - i);
      size_t pos = 0;
      while (pos <= body.size()) {
        size_t end = body.find(';', pos);
        if (end == std::string_view::npos) end = body.size();
        std::string_view item = trim(body.substr(pos, end - pos));
        if (!item.empty()) {
          const size_t eq = item.find('=');
          std::string_view key = trim(item.substr(0, eq));
          if (key.empty()) syntax_error(text, i + pos, "an option without a key");
          for (char c : key) {
            if (!is_name_char(c)) syntax_error(text, i + pos, fmt::format("option key '{}' is not a name", key));
          }
          // A key alone is a flag set to true (`quantize<gptq>`).
          std::string value = eq == std::string_view::npos ? "true" : std::string(trim(item.substr(eq + 1)));
          spec.options.emplace_back(std::string(key), value);
        }
        pos = end + 1;
      }
      i = close + 1;
    }
    out.push_back(std::move(spec));
    skip_space();
    if (i == text.size()) break;
    if (text[i] != ',') syntax_error(text, i, fmt::format("unexpected '{}'", text[i]));
    ++i;
  }
  return out;
}

std::string print_pass(const PassSpec& spec) {
  if (spec.options.empty()) return spec.name;
  std::string s = spec.name + "<";
  for (size_t k = 0; k < spec.options.size(); ++k) {
    s.append(k ? ";" : "").append(spec.options[k].first).append("=").append(spec.options[k].second);
  }
  return s + ">";
}

std::string print_pipeline(const std::vector<PassSpec>& specs) {
  std::string s;
  for (const PassSpec& p : specs) s.append(s.empty() ? "" : ",").append(print_pass(p));
  return s;
}

std::vector<std::string> split_list_value(std::string_view value) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t end = value.find(',', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view item = trim(value.substr(pos, end - pos));
    if (!item.empty()) out.emplace_back(item);
    pos = end + 1;
  }
  return out;
}

}  // namespace scalec::passes
