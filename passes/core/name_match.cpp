#include "passes/core/name_match.h"

namespace scalec::passes {

bool glob_match(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;  // backtrack: let the last * swallow one more character
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool any_glob_matches(const std::vector<std::string>& patterns, const std::vector<std::string_view>& names) {
  for (const std::string& p : patterns) {
    for (std::string_view n : names) {
      if (!n.empty() && glob_match(p, n)) return true;
    }
  }
  return false;
}

}  // namespace scalec::passes
