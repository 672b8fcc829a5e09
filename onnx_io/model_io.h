#pragma once
// Reading and writing ONNX models. The only public face of onnx_io: no protobuf type appears here.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace scalec::onnx_io {

class CommitGroup;

/// The newest IR version and default-domain opset scalec reads (older ones all load).
inline constexpr int64_t kMaxIrVersion = 10;
inline constexpr int64_t kMaxOpset = 22;

/// How load_model treats what it reads.
struct LoadOptions {
  bool verify = true;  ///< run ir::verify and refuse invalid models (exit code 2)
};

/// Loads `path`. External data files are mapped, not copied, and must lie inside the model's
/// folder. Throws Error(kBadInput) naming the file and the problem.
ir::Model load_model(const std::string& path, const LoadOptions& options = {});
/// Loads a serialized ModelProto; external data is resolved against `base_dir`.
ir::Model load_model_from_bytes(std::string_view bytes, const std::string& base_dir,
                                const std::string& display_name, const LoadOptions& options = {});

/// Where saved tensors go.
enum class ExternalData {
  kAuto,    ///< external when the input model used it or the model would pass protobuf's 2 GB limit
  kAlways,  ///< every tensor of at least `external_threshold` bytes
  kNever,   ///< everything inside the .onnx file (fails past 2 GB)
};

/// How save_model writes.
struct SaveOptions {
  ExternalData external_data = ExternalData::kAuto;
  size_t external_threshold = 1024;     ///< smaller tensors always stay inline
  std::vector<std::string> passes;      ///< pipeline text appended to metadata_props' scalec.passes
  bool record_provenance = true;        ///< add scalec.version (and scalec.passes) to metadata_props
  CommitGroup* commit_group = nullptr;  ///< when set, the files are renamed into place by its commit()
};

/// Writes `model` to `path` atomically (temp file, then rename); external data goes to
/// "<path>.data" beside it. Throws Error(kIoError) naming the path and the system's reason;
/// leaves no partial file behind.
void save_model(const ir::Model& model, const std::string& path, const SaveOptions& options = {});
/// The serialized ModelProto with every tensor inline (tests, small models).
std::string serialize_model(const ir::Model& model, const SaveOptions& options = {});

/// True when any initializer or Constant tensor of the model is mapped from an external file.
bool uses_external_data(const ir::Model& model);
/// The external data files the model's tensors are mapped from (each once, as opened).
std::vector<std::string> external_data_files(const ir::Model& model);

}  // namespace scalec::onnx_io
