#include "onnx_io/tensor_proto.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "ir/error.h"

namespace scalec::onnx_io {

using ir::DType;

namespace {

bool unsafe_location(const std::string& loc) {
  if (loc.empty() || loc.front() == '/') return true;
  size_t start = 0;
  while (start <= loc.size()) {
    size_t end = loc.find('/', start);
    if (end == std::string::npos) end = loc.size();
    if (loc.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

// The real path of `path` (symbolic links followed); empty with errno set when it cannot be resolved.
std::string real_path(const std::string& path) {
  char* p = ::realpath(path.c_str(), nullptr);
  if (p == nullptr) return {};
  std::string s(p);
  std::free(p);
  return s;
}

// True when `path` is `folder` or lies below it (both resolved).
bool is_inside(const std::string& path, const std::string& folder) {
  if (folder == "/" || path == folder) return true;
  return path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 && path[folder.size()] == '/';
}

template <typename T, typename Field>
void copy_typed(const Field& field, ir::Tensor& t) {
  auto out = t.mutable_values<T>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(field.Get(static_cast<int>(i)));
}

// Number of entries the typed field must hold, and the field's name, for `dtype`.
size_t typed_count(const onnx::TensorProto& p, DType dt, const char** field) {
  switch (dt) {
    case DType::kFloat:
    case DType::kComplex64: *field = "float_data"; return static_cast<size_t>(p.float_data_size());
    case DType::kDouble:
    case DType::kComplex128: *field = "double_data"; return static_cast<size_t>(p.double_data_size());
    case DType::kInt64: *field = "int64_data"; return static_cast<size_t>(p.int64_data_size());
    case DType::kUInt32:
    case DType::kUInt64: *field = "uint64_data"; return static_cast<size_t>(p.uint64_data_size());
    case DType::kString: *field = "string_data"; return static_cast<size_t>(p.string_data_size());
    default: *field = "int32_data"; return static_cast<size_t>(p.int32_data_size());
  }
}

ir::Tensor from_typed_fields(const onnx::TensorProto& p, DType dt, std::vector<int64_t> shape, const std::string& what) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;  // checked for overflow by the caller
  const char* field = "";
  size_t have = typed_count(p, dt, &field);
  size_t need = static_cast<size_t>(numel);
  if (dt == DType::kComplex64 || dt == DType::kComplex128) need *= 2;
  if (dt == DType::kInt4 || dt == DType::kUInt4 || dt == DType::kFloat4E2M1) need = ir::dtype_storage_bytes(dt, numel);
  // Checked before allocating, so a corrupt shape cannot ask for terabytes.
  if (have != need) {
    throw_bad_input("{}: {} holds {} values but {}{} needs {}", what, field, have, ir::dtype_name(dt),
                    ir::shape_to_string(shape), need);
  }
  if (dt == DType::kString) {
    std::vector<std::string> s(p.string_data().begin(), p.string_data().end());
    return ir::Tensor::from_strings(std::move(shape), std::move(s));
  }
  ir::Tensor t(dt, shape);
  switch (dt) {
    case DType::kFloat:
    case DType::kComplex64: copy_typed<float>(p.float_data(), t); break;
    case DType::kDouble:
    case DType::kComplex128: copy_typed<double>(p.double_data(), t); break;
    case DType::kInt64: copy_typed<int64_t>(p.int64_data(), t); break;
    case DType::kUInt32: copy_typed<uint32_t>(p.uint64_data(), t); break;
    case DType::kUInt64: copy_typed<uint64_t>(p.uint64_data(), t); break;
    case DType::kInt32: copy_typed<int32_t>(p.int32_data(), t); break;
    case DType::kInt16: copy_typed<int16_t>(p.int32_data(), t); break;
    case DType::kUInt16:
    case DType::kFloat16:
    case DType::kBFloat16: copy_typed<uint16_t>(p.int32_data(), t); break;  // bit patterns
    case DType::kString: {
      std::vector<std::string> s(p.string_data().begin(), p.string_data().end());
      return ir::Tensor::from_strings(std::move(shape), std::move(s));
    }
    default: copy_typed<uint8_t>(p.int32_data(), t); break;  // 8-bit types; 4-bit types packed per byte
  }
  return t;
}

// A non-negative decimal from an external_data entry.
size_t parse_size(const std::string& text, const char* key, const std::string& what) {
  size_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw_bad_input("{}: external data {} '{}' is not a non-negative integer", what, key, text);
  }
  return v;
}

// Element count of `shape`, refusing negative dims and products that overflow.
int64_t checked_numel(const std::vector<int64_t>& shape, ir::DType dt, const std::string& what) {
  constexpr int64_t kMaxBytes = int64_t{1} << 48;  // 256 TiB: far beyond any real tensor
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw_bad_input("{}: negative dimension in {}", what, ir::shape_to_string(shape));
    if (d != 0 && n > kMaxBytes / d) throw_bad_input("{}: shape {} is too large", what, ir::shape_to_string(shape));
    n *= d;
  }
  if (n > kMaxBytes / 16) throw_bad_input("{}: shape {} is too large", what, ir::shape_to_string(shape));
  (void)dt;
  return n;
}

}  // namespace

std::string tensor_proto_extras(const onnx::TensorProto& p) {
  onnx::TensorProto rest(p);
  for (auto clear : {&onnx::TensorProto::clear_dims, &onnx::TensorProto::clear_data_type,
                     &onnx::TensorProto::clear_float_data, &onnx::TensorProto::clear_int32_data,
                     &onnx::TensorProto::clear_string_data, &onnx::TensorProto::clear_int64_data,
                     &onnx::TensorProto::clear_name, &onnx::TensorProto::clear_raw_data,
                     &onnx::TensorProto::clear_double_data, &onnx::TensorProto::clear_uint64_data,
                     &onnx::TensorProto::clear_external_data, &onnx::TensorProto::clear_data_location}) {
    (rest.*clear)();
  }
  return rest.SerializeAsString();
}

std::shared_ptr<ir::MappedFile> ExternalDataResolver::map(const std::string& location, const std::string& tensor_name) {
  if (unsafe_location(location)) {
    throw_bad_input("tensor '{}': external data location '{}' is refused (absolute paths and '..' may not leave "
                    "the model's folder)", tensor_name, location);
  }
  auto it = files_.find(location);
  if (it != files_.end()) return it->second;
  const std::string path = base_dir_ + "/" + location;
  // Symbolic links are followed only while they stay inside the model's folder: a model must not
  // copy /etc/passwd into its output. Messages say nothing of what lies outside (not even its size).
  const std::string folder = real_path(base_dir_);
  if (folder.empty()) throw_bad_input("tensor '{}': external data: cannot open '{}': {}", tensor_name, path, std::strerror(errno));
  const std::string resolved = real_path(path);
  if (resolved.empty()) throw_bad_input("tensor '{}': external data: cannot open '{}': {}", tensor_name, path, std::strerror(errno));
  if (!is_inside(resolved, folder)) {
    throw_bad_input("tensor '{}': external data location '{}' is refused: a symbolic link leads out of the model's "
                    "folder", tensor_name, location);
  }
  // Only regular files: opening a FIFO for reading would wait for a writer forever.
  struct stat st {};
  if (::stat(resolved.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw_bad_input("tensor '{}': external data '{}' is refused: not a regular file", tensor_name, path);
  }
  std::shared_ptr<ir::MappedFile> f;
  try {
    // The resolved path: no link can be swapped in at its last step between the check and here.
    f = ir::MappedFile::open(resolved);
  } catch (const Error& e) {
    throw_bad_input("tensor '{}': external data: {}", tensor_name, e.what());
  }
  files_.emplace(location, f);
  return f;
}

ir::Tensor tensor_from_proto(const onnx::TensorProto& p, ExternalDataResolver& external, const std::string& what) {
  if (!ir::dtype_is_known(p.data_type())) throw_bad_input("{}: unsupported data_type {}", what, p.data_type());
  auto dt = static_cast<DType>(p.data_type());
  std::vector<int64_t> shape(p.dims().begin(), p.dims().end());
  int64_t numel = checked_numel(shape, dt, what);
  if (p.has_segment()) throw_bad_input("{}: segmented tensors are not supported", what);
  size_t need = ir::dtype_storage_bytes(dt, numel);

  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    if (dt == DType::kString) throw_bad_input("{}: string tensors cannot use external data", what);
    std::string location;
    size_t offset = 0;
    std::optional<size_t> length;
    for (const auto& kv : p.external_data()) {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = parse_size(kv.value(), "offset", what);
      else if (kv.key() == "length") length = parse_size(kv.value(), "length", what);
    }
    if (length && *length != need) {
      throw_bad_input("{}: external data length {} but {}{} needs {} bytes", what, *length, ir::dtype_name(dt),
                      ir::shape_to_string(shape), need);
    }
    auto file = external.map(location, p.name());
    auto storage = ir::Storage::map(file, offset, need);
    size_t elem = static_cast<size_t>(std::max(1, ir::dtype_bits(dt) / 8));
    if (offset % elem != 0) {  // misaligned for typed access: copy instead of mapping
      auto owned = ir::Storage::allocate(need);
      std::memcpy(owned->mutable_data(), storage->data(), need);
      storage = owned;
    }
    return ir::Tensor(dt, std::move(shape), std::move(storage));
  }
  if (p.has_raw_data() && dt != DType::kString) {
    if (p.raw_data().size() != need) {
      throw_bad_input("{}: raw_data holds {} bytes but {}{} needs {}", what, p.raw_data().size(), ir::dtype_name(dt),
                      ir::shape_to_string(shape), need);
    }
    ir::Tensor t(dt, std::move(shape));
    if (need > 0) std::memcpy(t.mutable_bytes().data(), p.raw_data().data(), need);
    return t;
  }
  return from_typed_fields(p, dt, std::move(shape), what);
}

void tensor_to_proto(const ir::Tensor& t, onnx::TensorProto* p, ExternalDataSink* sink, size_t threshold) {
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  if (t.dtype() == DType::kString) {
    for (const auto& s : t.strings()) p->add_string_data(s);
    return;
  }
  auto bytes = t.bytes();
  if (sink != nullptr && bytes.size() >= threshold) {
    size_t offset = sink->append(t);
    p->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* k, const std::string& v) {
      auto* e = p->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", sink->location());
    add("offset", std::to_string(offset));
    add("length", std::to_string(bytes.size()));
    return;
  }
  p->set_raw_data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace scalec::onnx_io
