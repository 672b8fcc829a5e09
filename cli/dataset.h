#pragma once
// Data files for infer/eval: read .npz/.npy, check them against the model, and cut batches.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/exec/executor.h"

namespace scalec::cli {

/// Model inputs (and labels) read from a data file, checked against the model's graph inputs.
struct Dataset {
  kernels::NamedTensors inputs;   ///< one array per non-initializer graph input, model order
  std::optional<ir::Tensor> labels;
  int64_t samples = 0;            ///< axis 0 shared by every array
};

/// Reads `path` (.npz, or .npy for a one-input model); Error(kBadInput) names what does not fit.
Dataset load_dataset(const ir::Model& model, const std::string& path, const std::string& labels_key);

/// Model inputs read a batch at a time, so memory holds one batch whatever the file's size: stored
/// .npz members are read row by row (onnx_io::NpzRowReader); a compressed member is read whole, with
/// a warning; an .npy file is mapped.
class DataStream {
 public:
  /// Opens and checks `path` against the model's inputs (Error kBadInput naming what does not fit).
  DataStream(const ir::Model& model, const std::string& path, const std::string& labels_key);
  ~DataStream();
  int64_t samples() const { return samples_; }
  /// Rows [begin, end) of every input, in model order.
  kernels::NamedTensors batch(int64_t begin, int64_t end) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int64_t samples_ = 0;
};

/// Rows [begin, end) along axis 0 of every input.
kernels::NamedTensors batch_of(const Dataset& data, int64_t begin, int64_t end);

/// The rows `picked` (indices along axis 0, in that order) of `t`.
ir::Tensor pick_rows(const ir::Tensor& t, std::span<const int64_t> picked);
/// The rows `picked` of every input.
kernels::NamedTensors pick_batch(const Dataset& data, std::span<const int64_t> picked);

/// The batch size the model allows: `requested`, or the fixed axis-0 size an input declares.
int64_t batch_size_for(const ir::Model& model, int64_t requested, int64_t samples);

/// Stacks per-batch outputs along axis 0 (each must have the same trailing shape).
ir::Tensor concat_rows(const std::vector<ir::Tensor>& parts, const std::string& name);

/// Peak resident memory of this process so far, in bytes.
size_t peak_rss_bytes();

}  // namespace scalec::cli
