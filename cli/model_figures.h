#pragma once
// Before/after figures of a compression step, measured on model files as users ship them.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ir/graph.h"

namespace scalec::cli {

/// Size and cost of one model file.
struct ModelFigures {
  int64_t parameters = 0;          ///< float weight elements (DESIGN.md's definition)
  int64_t nonzero_parameters = 0;
  std::optional<int64_t> macs;     ///< per sample (kernels::model_macs); nullopt when dims are unknown
  int64_t file_bytes = 0;
  int64_t gzip_bytes = 0;          ///< the file gzip-compressed (level 9): zeros only shrink a file compressed
};

/// Loads `path` and measures it.
ModelFigures measure_model_file(const std::string& path);
/// Measures `model` as saved in `file` (file sizes from `file`; shapes are inferred into `model`).
ModelFigures measure_model(ir::Model& model, const std::string& file);

nlohmann::json to_json(const ModelFigures& f);

}  // namespace scalec::cli
