#pragma once
// A pass's options declared once, as named fields bound to its members: the same declaration
// prints the options (`bits=8;method=mse`) and parses them back from pipeline text, so the printed
// pipeline of a run reproduces it.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "passes/core/pass_text.h"

namespace scalec::passes {

/// Named option fields bound to variables.
class OptionFields {
 public:
  OptionFields& add(const std::string& key, bool& v);
  OptionFields& add(const std::string& key, int& v);
  OptionFields& add(const std::string& key, int64_t& v);
  OptionFields& add(const std::string& key, double& v);
  OptionFields& add(const std::string& key, std::string& v);
  OptionFields& add(const std::string& key, std::vector<std::string>& v);
  OptionFields& add(const std::string& key, std::set<std::string>& v);
  /// A map as a list of NAME=K items (`layer-bits=conv1=8,fc=8`).
  OptionFields& add(const std::string& key, std::map<std::string, int>& v);

  /// `k=v;k=v` for every field, in declaration order (lists joined with commas; empty lists left out).
  std::string print() const;
  /// Sets the fields `spec` names; Error(kUsage) for an unknown key (listing the known ones) or a
  /// value of the wrong type, naming the pass.
  void parse(const PassSpec& spec) const;

 private:
  struct Field {
    std::string key;
    std::function<std::string()> print;
    std::function<bool(const std::string&)> parse;  ///< false: not a value of this type
    const char* type;
  };
  std::vector<Field> fields_;
};

}  // namespace scalec::passes
