#pragma once
// Parameter and byte counts and per-weight statistics, as DESIGN.md defines them:
// parameters = elements of float initializers and float Constant tensors (subgraphs included);
// bytes = stored bytes of every initializer and Constant tensor.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::ir {

/// One stored tensor: an initializer or the value of a Constant node.
struct WeightStats {
  std::string name;       ///< initializer name, or the Constant's output name
  bool from_constant = false;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  size_t bytes = 0;
  bool is_parameter = false;  ///< float-typed, so counted as parameters
  bool has_values = false;    ///< false when dtype has no numeric reading (strings, float8)
  double sparsity = 0;        ///< fraction of elements exactly zero
  double min = 0;
  double max = 0;
  double mean_abs = 0;
};

/// Totals over a model.
struct ModelStats {
  int64_t parameters = 0;
  size_t bytes = 0;
  std::vector<WeightStats> weights;
  std::map<std::string, int64_t> op_histogram;  ///< "Conv" or "domain::Op" -> count (subgraphs included)
  int64_t nodes = 0;
};

/// Walks the graph and its subgraphs.
ModelStats compute_model_stats(const Graph& graph);

}  // namespace scalec::ir
