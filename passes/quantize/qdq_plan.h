#pragma once
// What quantize-qdq's plan tells quantization-aware training: which calibrated ranges set each
// Q -> DQ pair. Implemented in qdq_pass.cpp, beside the plan it reads.
#include <map>
#include <string>
#include <vector>

#include "passes/quantize/qdq_pass.h"

namespace scalec::passes {

/// For each activation value quantize-qdq gives a Q -> DQ pair (by name), the calibrated values whose
/// ranges' union sets that pair's scale and zero point.
std::map<std::string, std::vector<std::string>> qdq_range_groups(ir::Model& model, const QdqOptions& options);

}  // namespace scalec::passes
