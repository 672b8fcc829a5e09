#include "cli/mixed_precision.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "ir/error.h"

namespace scalec::cli {

MixedPrecisionResult search_mixed_precision(int bits, double target, const std::function<std::vector<std::string>()>& rank,
                                            const std::function<double(const LayerBits&)>& drop) {
  MixedPrecisionResult r;
  std::map<size_t, double> measured;
  std::vector<std::pair<std::string, int>> steps;  // (layer, its bits from then on)
  auto assignment = [&](size_t m) {
    LayerBits a;
    for (size_t i = 0; i < m; ++i) a[steps[i].first] = steps[i].second;
    return a;
  };
  auto eval = [&](size_t m) {
    auto it = measured.find(m);
    if (it != measured.end()) return it->second;
    const double d = drop(assignment(m));
    ++r.evaluations;
    r.trace.push_back({{"promotions", m}, {"drop", d}});
    measured[m] = d;
    return d;
  };
  if (eval(0) <= target) {
    r.drop = measured.at(0);
    r.reached = true;
    return r;
  }

  const std::vector<std::string> ranked = rank();
  if (ranked.empty()) throw_internal("mixed precision over no layers");
  r.ranked = ranked;
  if (bits < 8) {
    for (const std::string& l : ranked) steps.emplace_back(l, 8);
  }
  for (const std::string& l : ranked) steps.emplace_back(l, kFloatBits);
  const size_t longest = steps.size() - 1;  // the last step would leave no layer quantized

  std::optional<size_t> within;  // the shortest prefix known within the target
  size_t below = 0;              // the longest prefix known not within, below `within`
  for (size_t m = 1; m <= longest; m = m == longest ? longest + 1 : std::min(2 * m, longest)) {
    if (eval(m) <= target) {
      within = m;
      break;
    }
    below = m;
  }
  while (within && *within - below > 1) {
    const size_t mid = below + (*within - below) / 2;
    if (eval(mid) <= target) within = mid;
    else below = mid;
  }
  size_t chosen = 0;
  if (within) {
    chosen = *within;
  } else {  // unreachable: the lowest drop measured, the fewest promotions on a tie
    for (const auto& [m, d] : measured) {
      if (d < measured.at(chosen)) chosen = m;
    }
  }
  r.promoted = assignment(chosen);
  r.drop = measured.at(chosen);
  r.reached = within.has_value();
  r.promotions = chosen;
  return r;
}

std::string layer_bits_name(int bits) { return bits == kFloatBits ? "float" : fmt::format("int{}", bits); }

}  // namespace scalec::cli
