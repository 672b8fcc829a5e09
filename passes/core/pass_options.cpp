#include "passes/core/pass_options.h"

#include <charconv>

#include <fmt/format.h>

#include "ir/error.h"

namespace scalec::passes {

namespace {

template <typename T>
bool parse_number(const std::string& s, T& out) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  out = v;
  return true;
}

std::string join(const auto& items) {
  std::string s;
  for (const std::string& i : items) s.append(s.empty() ? "" : ",").append(i);
  return s;
}

}  // namespace

OptionFields& OptionFields::add(const std::string& key, bool& v) {
  fields_.push_back({key, [&v] { return std::string(v ? "true" : "false"); },
                     [&v](const std::string& s) {
                       if (s != "true" && s != "false" && s != "1" && s != "0") return false;
                       v = s == "true" || s == "1";
                       return true;
                     },
                     "true or false"});
  return *this;
}

OptionFields& OptionFields::add(const std::string& key, int& v) {
  fields_.push_back({key, [&v] { return std::to_string(v); }, [&v](const std::string& s) { return parse_number(s, v); },
                     "an integer"});
  return *this;
}

OptionFields& OptionFields::add(const std::string& key, int64_t& v) {
  fields_.push_back({key, [&v] { return std::to_string(v); }, [&v](const std::string& s) { return parse_number(s, v); },
                     "an integer"});
  return *this;
}

OptionFields& OptionFields::add(const std::string& key, double& v) {
  fields_.push_back({key, [&v] { return fmt::format("{}", v); },
                     [&v](const std::string& s) { return parse_number(s, v); }, "a number"});
  return *this;
}

OptionFields& OptionFields::add(const std::string& key, std::string& v) {
  fields_.push_back({key, [&v] { return v; },
                     [&v](const std::string& s) {
                       v = s;
                       return true;
                     },
                     "text"});
  return *this;
}

OptionFields& OptionFields::add(const std::string& key, std::vector<std::string>& v) {
  fields_.push_back({key, [&v] { return join(v); },
                     [&v](const std::string& s) {
                       v = split_list_value(s);
                       return true;
                     },
                     "a list"});
  return *this;
}

OptionFields& OptionFields::add(const std::string& key, std::set<std::string>& v) {
  fields_.push_back({key, [&v] { return join(v); },
                     [&v](const std::string& s) {
                       const std::vector<std::string> items = split_list_value(s);
                       v = std::set<std::string>(items.begin(), items.end());
                       return true;
                     },
                     "a list"});
  return *this;
}

OptionFields& OptionFields::add(const std::string& key, std::map<std::string, int>& v) {
  fields_.push_back({key,
                     [&v] {
                       std::vector<std::string> items;
                       for (const auto& [name, k] : v) items.push_back(fmt::format("{}={}", name, k));
                       return join(items);
                     },
                     [&v](const std::string& s) {
                       std::map<std::string, int> out;
                       for (const std::string& item : split_list_value(s)) {
                         // The last '=' splits: a node name may itself hold one.
                         const size_t eq = item.rfind('=');
                         if (eq == std::string::npos || eq == 0 || !parse_number(item.substr(eq + 1), out[item.substr(0, eq)])) {
                           return false;
                         }
                       }
                       v = std::move(out);
                       return true;
                     },
                     "a list of NAME=INTEGER"});
  return *this;
}

std::string OptionFields::print() const {
  std::string s;
  for (const Field& f : fields_) {
    const std::string value = f.print();
    if (value.empty()) continue;  // an empty list
    s.append(s.empty() ? "" : ";").append(f.key + "=" + value);
  }
  return s;
}

void OptionFields::parse(const PassSpec& spec) const {
  for (const auto& [key, value] : spec.options) {
    const Field* field = nullptr;
    for (const Field& f : fields_) {
      if (f.key == key) field = &f;
    }
    if (!field) {
      std::string known;
      for (const Field& f : fields_) known.append(known.empty() ? "" : ", ").append(f.key);
      throw Error(ExitCode::kUsage, fmt::format("{}: unknown option '{}' (it takes {})", spec.name, key,
                                                known.empty() ? "no options" : known));
    }
    if (!field->parse(value)) {
      throw Error(ExitCode::kUsage, fmt::format("{}: option {}={} is not {}", spec.name, key, value, field->type));
    }
  }
}

}  // namespace scalec::passes
