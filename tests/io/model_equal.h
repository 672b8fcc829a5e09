#pragma once
// Deep comparison of two ir models for round-trip tests; returns the first difference found.
#include <string>

#include "ir/graph.h"

namespace scalec::test {

/// "" when equal (ignoring metadata key scalec.version), else a description of the first difference.
std::string model_difference(const ir::Model& a, const ir::Model& b);

}  // namespace scalec::test
