#pragma once
// Data files for infer/eval: read .npz/.npy, check them against the model, and cut batches.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cli/sample_axes.h"
#include "ir/graph.h"
#include "kernels/exec/executor.h"

namespace scalec::cli {

class DataStream;

/// Model inputs (and labels) read from a data file, checked against the model's graph inputs.
struct Dataset {
  kernels::NamedTensors inputs;   ///< one array per non-initializer graph input, model order
  /// Set by load_streamed_dataset: the inputs are read from the file as batches ask for them (and
  /// `inputs` is empty), so memory holds a batch, not the file.
  std::shared_ptr<const DataStream> stream;
  std::optional<ir::Tensor> labels;
  int64_t samples = 0;            ///< shared by every split array (`axes`) and the labels
  onnx_io::SampleAxes axes;       ///< which axis of each input counts samples
};

/// Reads `path` (.npz, or .npy for a one-input model) split as `axes` says; Error(kBadInput) names
/// what does not fit.
Dataset load_dataset(const ir::Model& model, const std::string& path, const std::string& labels_key,
                     const onnx_io::SampleAxes& axes = {});

/// Like load_dataset, but the inputs stay in the file: batch_of and pick_batch read the rows they
/// need (training: each step's shuffled rows, each data-parallel rank only its share). Labels are
/// read whole (8 bytes a sample).
Dataset load_streamed_dataset(const ir::Model& model, const std::string& path, const std::string& labels_key,
                              const onnx_io::SampleAxes& axes = {});

/// Model inputs read a batch at a time, so memory holds one batch whatever the file's size: stored
/// .npz members are read row by row (onnx_io::NpzRowReader); a compressed member is read whole, with
/// a warning; an .npy file is mapped.
class DataStream {
 public:
  /// Opens and checks `path` against the model's inputs (Error kBadInput naming what does not fit);
  /// arrays that are not split along axis 0 (`axes`) are read whole once.
  DataStream(const ir::Model& model, const std::string& path, const std::string& labels_key,
             const onnx_io::SampleAxes& axes = {});
  ~DataStream();
  int64_t samples() const { return samples_; }
  /// Samples [begin, end) of every input (along its sample axis), in model order.
  kernels::NamedTensors batch(int64_t begin, int64_t end) const;
  /// The samples `picked` (in that order) of every input split along axis 0, in model order; runs
  /// of consecutive rows are read in one go.
  kernels::NamedTensors pick(std::span<const int64_t> picked) const;
  /// The whole array `name` (labels), or nothing when the file has none.
  std::optional<ir::Tensor> read_whole(const std::string& name) const;
  /// Checks the CRC-32 of every .npz member, also the rows no batch read; call before committing
  /// an output computed from the data (Error kBadInput naming a corrupt member).
  void verify() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int64_t samples_ = 0;
};

/// Samples [begin, end) of every input, along its sample axis (`data.axes`).
kernels::NamedTensors batch_of(const Dataset& data, int64_t begin, int64_t end);

/// The rows `picked` (indices along axis 0, in that order) of `t`.
ir::Tensor pick_rows(const ir::Tensor& t, std::span<const int64_t> picked);
/// The rows `picked` of every input.
kernels::NamedTensors pick_batch(const Dataset& data, std::span<const int64_t> picked);

/// The batch size the model allows: `requested`, or the fixed size an input declares on its sample
/// axis; all `samples` when `axes` splits nothing.
int64_t batch_size_for(const ir::Model& model, int64_t requested, int64_t samples,
                       const onnx_io::SampleAxes& axes = {});

/// Peak resident memory of this process so far, in bytes.
size_t peak_rss_bytes();

}  // namespace scalec::cli
