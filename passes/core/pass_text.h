#pragma once
// The text form of a pipeline, LLVM style: `name<key=value;key=value>,name2` — passes separated by
// commas, options in angle brackets separated by semicolons; inside the brackets a comma belongs to
// a list value (`skip=conv1,conv2`).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scalec::passes {

/// One pass (or stage) of a pipeline text, its options in the order written.
struct PassSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;
};

/// Parses pipeline text; Error(kUsage) naming the character position of a syntax error.
std::vector<PassSpec> parse_pipeline(std::string_view text);

/// `name<k=v;k=v>` (just `name` without options).
std::string print_pass(const PassSpec& spec);

/// The passes printed and joined with commas.
std::string print_pipeline(const std::vector<PassSpec>& specs);

/// Splits a list value at commas ("a,b" -> {a, b}); empty items are dropped.
std::vector<std::string> split_list_value(std::string_view value);

}  // namespace scalec::passes
