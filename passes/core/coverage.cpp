#include "passes/core/coverage.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ir/error.h"

namespace scalec::passes {

void Coverage::add(const std::string& name, int64_t params, bool changed, const std::string& reason) {
  ++layers_total_;
  params_total_ += params;
  if (changed) {
    ++layers_changed_;
    params_changed_ += params;
    return;
  }
  const std::string why = reason.empty() ? "left unchanged" : reason;
  auto it = std::find_if(left_.begin(), left_.end(), [&](const Left& l) { return l.reason == why; });
  if (it == left_.end()) it = left_.insert(left_.end(), Left{why, 0, 0, {}});
  ++it->count;
  it->params += params;
  it->names.push_back(name);
}

void Coverage::merge(const Coverage& other) {
  layers_total_ += other.layers_total_;
  layers_changed_ += other.layers_changed_;
  params_total_ += other.params_total_;
  params_changed_ += other.params_changed_;
  for (const Left& l : other.left_) {
    auto it = std::find_if(left_.begin(), left_.end(), [&](const Left& m) { return m.reason == l.reason; });
    if (it == left_.end()) it = left_.insert(left_.end(), Left{l.reason, 0, 0, {}});
    it->count += l.count;
    it->params += l.params;
    it->names.insert(it->names.end(), l.names.begin(), l.names.end());
  }
}

std::string Coverage::summary(const std::string& verb) const {
  const double share = params_total_ > 0 ? 100.0 * static_cast<double>(params_changed_) / static_cast<double>(params_total_) : 0.0;
  return fmt::format("{} {} of {} {}, {:.1f}% of weights", verb, layers_changed_, layers_total_, units(layers_total_),
                     share);
}

std::vector<std::string> Coverage::reason_lines(size_t max_names) const {
  std::vector<std::string> lines;
  for (const Left& l : left_) {
    std::string names;
    for (size_t i = 0; i < l.names.size() && i < max_names; ++i) names += (i ? ", " : "") + l.names[i];
    if (l.names.size() > max_names) names += ", ...";
    lines.push_back(fmt::format("{} {}: {}", l.count, l.reason, names));
  }
  return lines;
}

void Coverage::throw_if_nothing_changed(const std::string& verb) const {
  if (!nothing_changed()) return;
  std::string msg = fmt::format("nothing {}: 0 of {} {}", verb, layers_total_, units(layers_total_));
  for (const std::string& line : reason_lines()) msg += "\n  " + line;
  throw_bad_input("{}", msg);
}

nlohmann::json Coverage::to_json() const {
  nlohmann::json left = nlohmann::json::array();
  for (const Left& l : left_) {
    left.push_back({{"reason", l.reason}, {"count", l.count}, {"params", l.params}, {"names", l.names}});
  }
  return {{"layers_changed", layers_changed_}, {"layers_total", layers_total_}, {"params_changed", params_changed_},
          {"params_total", params_total_}, {"left", left}};
}

}  // namespace scalec::passes
