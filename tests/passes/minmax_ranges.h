#pragma once
// Min-max ranges of chosen values over one batch: a test stand-in for calibration::calibrate, so
// quantization pass tests do not depend on the observers.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "calibration/calibrator.h"
#include "kernels/exec/executor.h"

namespace scalec::test {

inline std::map<std::string, calibration::Range> minmax(const ir::Model& m, const std::vector<std::string>& names,
                                                        const kernels::NamedTensors& feeds) {
  std::map<std::string, calibration::Range> r;
  kernels::Executor ex(m);
  auto observe = [&r](const std::string& name, const ir::Tensor& t) {
    auto v = t.values<float>();
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    auto [it, fresh] = r.emplace(name, calibration::Range{*lo, *hi});
    if (!fresh) it->second = {std::min(it->second.min, *lo), std::max(it->second.max, *hi)};
  };
  for (const std::string& name : names) {
    const ir::Value* v = m.graph->find_value(name);
    REQUIRE(v != nullptr);
    if (v->producer()) ex.add_tap(v, [observe](const ir::Value& val, const ir::Tensor& t) { observe(val.name(), t); });
  }
  for (const auto& [name, t] : feeds) {
    if (std::find(names.begin(), names.end(), name) != names.end()) observe(name, t);
  }
  ex.run(feeds);
  return r;
}

}  // namespace scalec::test
