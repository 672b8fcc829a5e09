#pragma once
// TensorProto <-> ir::Tensor (private to onnx_io).
#include <map>
#include <memory>
#include <string>

#include <onnx/onnx_pb.h>

#include "ir/tensor.h"

namespace scalec::onnx_io {

/// Resolves and maps external data files, each once, refusing paths that leave the model's folder.
class ExternalDataResolver {
 public:
  explicit ExternalDataResolver(std::string base_dir) : base_dir_(std::move(base_dir)) {}
  /// Maps `location` (relative to the model's folder); throws Error(kBadInput) for unsafe paths.
  std::shared_ptr<ir::MappedFile> map(const std::string& location, const std::string& tensor_name);

 private:
  std::string base_dir_;
  std::map<std::string, std::shared_ptr<ir::MappedFile>> files_;
};

/// Decodes a TensorProto (raw_data, typed fields, or external data). `what` names it in errors.
ir::Tensor tensor_from_proto(const onnx::TensorProto& p, ExternalDataResolver& external, const std::string& what);

/// The fields of a TensorProto other than its name, type, shape and data (doc_string, fields of
/// newer ONNX versions), serialized so a save can restore them.
std::string tensor_proto_extras(const onnx::TensorProto& p);

/// Receives tensors that go to an external data file; returns the offset they were written at.
class ExternalDataSink {
 public:
  virtual ~ExternalDataSink() = default;
  virtual size_t append(const ir::Tensor& t) = 0;
  virtual const std::string& location() const = 0;
};

/// Encodes a tensor as raw_data (strings as string_data), or as an external reference when `sink`
/// is given and the tensor holds at least `threshold` bytes.
void tensor_to_proto(const ir::Tensor& t, onnx::TensorProto* p, ExternalDataSink* sink, size_t threshold);

}  // namespace scalec::onnx_io
