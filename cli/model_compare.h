#pragma once
// Measurements that set one model's results against another's on the same batches (compare,
// sensitivity): SQNR, top-1 agreement and accuracy, mean IoU of dense argmax maps, size on disk.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/graph.h"

namespace scalec::cli {

/// SQNR of a test tensor against a reference, accumulated over batches:
/// 10 log10(sum ref^2 / sum (ref - test)^2), over the element pairs where both are finite.
struct Sqnr {
  double signal = 0, noise = 0;        ///< sum ref^2, sum (ref - test)^2
  int64_t elements = 0;
  int64_t nonfinite_mismatches = 0;    ///< pairs where one side is NaN/Inf and the other is not the same
  /// Adds one batch; `ref` and `test` hold the same number of float elements (any float dtype).
  void add(const ir::Tensor& ref, const ir::Tensor& test);
  /// True when every pair was equal.
  bool identical() const { return noise == 0 && nonfinite_mismatches == 0; }
  /// The ratio in dB: +inf when identical; with an all-zero reference, at least -999 (not -inf, so
  /// that it stays a number in JSON).
  double db() const;
  /// "inf" or "31.42 dB", plus the count of non-finite mismatches when there are any.
  std::string text() const;
  /// The dB figure, or null when identical (JSON has no infinity).
  nlohmann::json json() const;
};

/// True for the float element types a comparison reads (float32/64, float16, bfloat16).
bool comparable_float(ir::DType t);

/// The class index of the largest score along axis 1 of [N, C, ...] scores (the first one on a
/// tie), for every position of the other axes: N * (product of the trailing dims) entries.
std::vector<int64_t> argmax_axis1(const ir::Tensor& scores);

/// Rows of `scores` [n, C] whose label (`labels`, rows first_row .. first_row + n) no class
/// outscores: ties count for the label, as `scalec eval` counts top-1. Error(kBadInput) for a
/// label outside [0, C).
int64_t top1_correct(const ir::Tensor& scores, const ir::Tensor& labels, int64_t first_row);

/// Per-class intersection and union of two label maps, accumulated over batches.
struct MeanIou {
  std::vector<int64_t> intersection, union_;
  /// Adds two maps of the same length whose entries are class indices in [0, classes).
  void add(std::span<const int64_t> a, std::span<const int64_t> b, int64_t classes);
  /// IoU averaged over the classes present in either map (1 when there were none).
  double mean() const;
};

/// Bytes the model takes on disk: the file at `path` plus the external data files it maps.
int64_t model_bytes_on_disk(const ir::Model& model, const std::string& path);

/// Index of the graph output named `name` in `model`, or -1.
int64_t output_index(const ir::Model& model, const std::string& name);

/// "'a', 'b'": the graph output names, for messages.
std::string output_names(const ir::Model& model);

}  // namespace scalec::cli
