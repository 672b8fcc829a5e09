#pragma once
// MACs per sample of a whole model. The symbolic batch counts as 1: a dim_param (or an unnamed
// unknown dim) on axis 0 of a graph input, and every dim of the model carrying that name. Other
// symbolic dims are not guessed: they make the count unknown unless the caller fixes the inputs'
// shapes. Shapes then propagate through scalec's own shape inference.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace scalec::kernels {

/// Whole shapes of graph inputs, by name (inspect --input-shape NAME=1,3,224,224).
using InputShapes = std::map<std::string, std::vector<int64_t>>;

/// What model_macs found.
struct ModelMacs {
  std::optional<int64_t> macs;            ///< nullopt: a MAC op's shape stayed unknown
  int64_t counted_nodes = 0;              ///< MAC ops counted (subgraphs included)
  int64_t unknown_nodes = 0;              ///< MAC ops whose shapes stayed unknown
  std::vector<std::string> batch;         ///< the batch dims counted as 1 ("N", or "x axis 0" when unnamed)
  std::vector<std::string> unknown_dims;  ///< graph input dims still unknown ("height", "x axis 2")
  std::string inference_error;            ///< why shape inference stopped, when it did
};

/// Counts MACs per sample with the batch set to 1 and `fixed` shapes on the named inputs; the
/// model's recorded types are restored before it returns. Error(kBadInput) when `fixed` names no
/// graph input, has the wrong rank, contradicts a recorded number, or sets the batch to other than 1.
ModelMacs model_macs(ir::Model& model, const InputShapes& fixed = {});

}  // namespace scalec::kernels
