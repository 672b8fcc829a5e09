#pragma once
// Data files for calibration, evaluation and training: NumPy .npy/.npz and ONNX TensorProto .pb.
// Conventions (DESIGN.md, "Data files"): arrays are named after the model's graph inputs, already in
// the model's dtype and layout (no silent casts); axis 0 counts samples unless SampleAxes says
// otherwise; labels are integer class indices of shape [N]. Every reader throws Error(kBadInput)
// naming the file (and the .npz member) and the problem; every writer is atomic and throws
// Error(kIoError) naming the path.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace scalec::onnx_io {

class CommitGroup;

/// A named array, in file order.
using NamedTensor = std::pair<std::string, ir::Tensor>;

/// Reads every array of an .npz file (np.savez or np.savez_compressed), in file order, named
/// without the ".npy" suffix.
std::vector<NamedTensor> read_npz(const std::string& path);
/// Writes an uncompressed .npz (as np.savez does) with fixed entry timestamps, so the same arrays
/// give the same bytes. With `group`, the file is renamed into place by group->commit().
void write_npz(const std::string& path, const std::vector<NamedTensor>& arrays, CommitGroup* group = nullptr);

/// Reads an .npy file; the data is mapped from the file (not copied) when it is C-ordered and aligned.
ir::Tensor read_npy(const std::string& path);
/// Decodes .npy bytes into an owned tensor; `what` names the source in errors ("'a.npz' member 'x.npy'").
ir::Tensor read_npy_bytes(std::span<const std::byte> bytes, const std::string& what);
/// Encodes a tensor as .npy bytes (format 1.0, or 2.0 when the header needs it).
std::string npy_bytes(const ir::Tensor& t);
/// Writes an .npy file.
void write_npy(const std::string& path, const ir::Tensor& t);

/// Reads one ONNX TensorProto file (the backend test sets' input_0.pb); its name goes to `*name`.
ir::Tensor read_tensor_pb(const std::string& path, std::string* name = nullptr);
/// Writes one ONNX TensorProto file (raw_data) named `name`.
void write_tensor_pb(const std::string& path, const ir::Tensor& t, const std::string& name = {});

/// NumPy's name of a dtype ("float32", "int64", "bool"); ONNX's name for types NumPy lacks.
std::string numpy_dtype_name(ir::DType t);

/// What a data file says about one array, without its data.
struct ArrayInfo {
  std::string name;
  ir::DType dtype = ir::DType::kUndefined;
  std::vector<int64_t> shape;
};

/// Which axis of each input array counts samples. Arrays it does not name use axis 0; a rank-0
/// array is never split.
struct SampleAxes {
  static constexpr int64_t kWhole = -1;  ///< the array goes unsplit into every run
  bool none_split = false;               ///< every array goes as given into one run
  std::map<std::string, int64_t> axes;   ///< array name -> its sample axis, or kWhole
  std::string advice;                    ///< appended to the "disagree on the number of samples" error
  /// The sample axis of array `name` of rank `rank`, or kWhole.
  int64_t of(const std::string& name, size_t rank) const;
};

/// Checks data arrays against the graph's non-initializer inputs: one array per input, same dtype,
/// same rank, same fixed dims except the sample axis (`axes`; all dims of an array not split);
/// the sample counts equal across split arrays and labels; labels (key `labels_key`, if present)
/// an integer array of shape [N]; no other arrays. `file` names the data in the Error(kBadInput)
/// thrown. Returns the shared sample count, or -1 when no array is split and there are no labels.
int64_t check_inputs_match(const ir::Graph& graph, const std::vector<NamedTensor>& arrays,
                           const std::string& labels_key, const std::string& file, const SampleAxes& axes = {});
/// The same check from array headers (streamed files).
int64_t check_arrays_match(const ir::Graph& graph, const std::vector<ArrayInfo>& arrays, const std::string& labels_key,
                           const std::string& file, const SampleAxes& axes = {});

}  // namespace scalec::onnx_io
