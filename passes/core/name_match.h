#pragma once
// Name patterns users pass to --skip, --freeze, --exclude-nodes: shell-style globs.
#include <string>
#include <string_view>
#include <vector>

namespace scalec::passes {

/// True when `name` matches the glob `pattern` (* any run, ? one character).
bool glob_match(std::string_view pattern, std::string_view name);

/// True when any of `patterns` matches any of `names` (e.g. a node's name and its weight's name).
bool any_glob_matches(const std::vector<std::string>& patterns, const std::vector<std::string_view>& names);

}  // namespace scalec::passes
