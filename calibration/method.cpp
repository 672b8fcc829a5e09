#include <string>

#include "calibration/calibrator.h"
#include "ir/error.h"

namespace scalec::calibration {

Method parse_method(const std::string& text) {
  if (text == "minmax") return Method::kMinMax;
  if (text == "percentile") return Method::kPercentile;
  if (text == "entropy") return Method::kEntropy;
  if (text == "mse") return Method::kMse;
  throw_bad_input("unknown calibration method '{}' (choose minmax, percentile, entropy or mse)", text);
}

std::string method_name(Method m) {
  switch (m) {
    case Method::kMinMax: return "minmax";
    case Method::kPercentile: return "percentile";
    case Method::kEntropy: return "entropy";
    case Method::kMse: return "mse";
  }
  return "unknown";
}

}  // namespace scalec::calibration
