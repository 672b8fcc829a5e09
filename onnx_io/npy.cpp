// .npy files: one array each.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/file_util.h"
#include "onnx_io/npy_format.h"

namespace scalec::onnx_io {

namespace {

// Parses the header and checks the data length of a whole .npy image.
NpyHeader parse_whole(std::span<const std::byte> bytes, const std::string& what) {
  NpyHeader h = parse_npy_header(bytes, what);
  check_npy_data_size(h, bytes.size() - h.data_offset, what);
  return h;
}

}  // namespace

ir::Tensor npy_fortran_to_c(const NpyHeader& h, std::span<const std::byte> data) {
  ir::Tensor t(h.dtype, h.shape);
  auto out = t.mutable_bytes();
  size_t elem = static_cast<size_t>(ir::dtype_bits(h.dtype) / 8), rank = h.shape.size();
  if (out.empty()) return t;
  // Walk the output in C order; in Fortran order axis k has stride prod(shape[0..k)).
  std::vector<size_t> stride(rank, 1), index(rank, 0);
  for (size_t k = 1; k < rank; ++k) stride[k] = stride[k - 1] * static_cast<size_t>(h.shape[k - 1]);
  size_t src = 0;
  for (size_t dst = 0; dst < out.size(); dst += elem) {
    std::memcpy(out.data() + dst, data.data() + src * elem, elem);
    for (size_t k = rank; k-- > 0;) {
      src += stride[k];
      if (++index[k] < static_cast<size_t>(h.shape[k])) break;
      src -= stride[k] * index[k];
      index[k] = 0;
    }
  }
  return t;
}

void check_data_file(const std::string& path, const char* kind) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_bad_input("cannot read '{}': {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw_bad_input("'{}' is a folder, not {}", path, kind);
  if (S_ISREG(st.st_mode) && st.st_size == 0) throw_bad_input("'{}' is empty (0 bytes): not {}", path, kind);
}

ir::Tensor read_npy_bytes(std::span<const std::byte> bytes, const std::string& what) {
  NpyHeader h = parse_whole(bytes, what);
  auto data = bytes.subspan(h.data_offset, h.data_bytes);
  if (h.fortran_order) return npy_fortran_to_c(h, data);
  ir::Tensor t(h.dtype, h.shape);
  if (!data.empty()) std::memcpy(t.mutable_bytes().data(), data.data(), data.size());
  return t;
}

ir::Tensor read_npy(const std::string& path) {
  check_data_file(path, "an .npy file");
  auto file = ir::MappedFile::open(path);
  std::span<const std::byte> bytes(file->data(), file->size());
  std::string what = fmt::format("'{}'", path);
  NpyHeader h = parse_whole(bytes, what);
  size_t elem = static_cast<size_t>(ir::dtype_bits(h.dtype) / 8);
  // Map instead of copying when typed access stays aligned (numpy pads headers to 64 bytes).
  if (h.fortran_order || h.data_offset % elem != 0) return read_npy_bytes(bytes, what);
  return ir::Tensor(h.dtype, h.shape, ir::Storage::map(file, h.data_offset, h.data_bytes));
}

std::string npy_bytes(const ir::Tensor& t) {
  std::string out = npy_header_for(t, "cannot encode the array as .npy");
  auto data = t.bytes();
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
  return out;
}

void write_npy(const std::string& path, const ir::Tensor& t) {
  std::string header = npy_header_for(t, fmt::format("cannot write '{}'", path));
  AtomicFile f(path);
  f.write(header);
  f.write(t.bytes());
  f.commit();
}

}  // namespace scalec::onnx_io
