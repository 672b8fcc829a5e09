// ONNX TensorProto files (.pb): one serialized TensorProto each, as in the ONNX backend test sets.
#include <limits>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/file_util.h"
#include "onnx_io/npy_format.h"
#include "onnx_io/tensor_proto.h"

namespace scalec::onnx_io {

ir::Tensor read_tensor_pb(const std::string& path, std::string* name) {
  check_data_file(path, "a TensorProto (.pb) file");
  auto file = ir::MappedFile::open(path);
  if (file->size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw_bad_input("'{}' is larger than 2 GB, the limit of a TensorProto file", path);
  }
  onnx::TensorProto p;
  if (!p.ParseFromArray(file->data(), static_cast<int>(file->size()))) {
    throw_bad_input("'{}' is not an ONNX TensorProto file (protobuf parse failed)", path);
  }
  if (p.data_type() == 0) throw_bad_input("'{}' is not an ONNX TensorProto file (it records no data_type)", path);
  // Tensors that point to external data resolve it beside the .pb file.
  ExternalDataResolver external(dirname_of(path));
  ir::Tensor t = tensor_from_proto(p, external, fmt::format("'{}'", path));
  if (name != nullptr) *name = p.name();
  return t;
}

void write_tensor_pb(const std::string& path, const ir::Tensor& t, const std::string& name) {
  onnx::TensorProto p;
  tensor_to_proto(t, &p, nullptr, 0);
  p.set_name(name);
  std::string bytes;
  if (!p.SerializeToString(&bytes)) throw_io_error("cannot write '{}': tensor too large for a TensorProto (2 GB)", path);
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace scalec::onnx_io
