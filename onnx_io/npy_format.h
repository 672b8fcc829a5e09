#pragma once
// The .npy format (private to onnx_io): header parsing and formatting, shared by .npy and .npz.
// Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.x, uint32 LE for 2.x/3.x),
// then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
// spaces and '\n' so the data starts on a 64-byte boundary; then the raw elements.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::onnx_io {

/// Bytes that always suffice to learn the header's length (magic, version, length field).
inline constexpr size_t kNpyPrefixBytes = 12;

/// A parsed .npy header.
struct NpyHeader {
  ir::DType dtype = ir::DType::kUndefined;
  std::vector<int64_t> shape;
  bool fortran_order = false;
  size_t data_offset = 0;  ///< where the elements start (magic + header)
  size_t data_bytes = 0;   ///< element bytes the shape needs
};

/// Checks the magic and version in `prefix` (at least kNpyPrefixBytes, or the whole input when
/// shorter) and returns where the data starts.
size_t npy_data_offset(std::span<const std::byte> prefix, const std::string& what);
/// Parses the header; `header` holds at least npy_data_offset() bytes.
NpyHeader parse_npy_header(std::span<const std::byte> header, const std::string& what);
/// Throws unless `available` element bytes are exactly what the header needs.
void check_npy_data_size(const NpyHeader& h, size_t available, const std::string& what);
/// The header bytes (magic to '\n') for a C-ordered tensor; throws for dtypes NumPy lacks, naming `what`.
std::string npy_header_for(const ir::Tensor& t, const std::string& what);
/// Reorders a Fortran-ordered element buffer into C order, in a new tensor.
ir::Tensor npy_fortran_to_c(const NpyHeader& h, std::span<const std::byte> data);

/// Refuses a missing path, a folder or an empty file, naming `kind` ("an .npz file").
void check_data_file(const std::string& path, const char* kind);

/// Refuses a zip member compressed with `method` (not 0 stored or 8 deflated): numpy writes only
/// those, and both .npz readers (whole and streamed) treat every other method the same way.
[[noreturn]] void throw_unsupported_zip_method(const std::string& what, int method);

}  // namespace scalec::onnx_io
