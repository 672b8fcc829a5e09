#pragma once
// Rows of .npz arrays read on demand: streaming calibration and evaluation read rows [begin, end)
// of a stored (np.savez) member with pread at the member's data offset, so memory holds one batch,
// never the whole array (read_npz reads every array whole).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::onnx_io {

/// One array of an .npz file, as its .npy header describes it.
struct NpzMember {
  std::string name;  ///< without the ".npy" suffix
  ir::DType dtype = ir::DType::kUndefined;
  std::vector<int64_t> shape;
  bool streamed = true;  ///< false: held whole in memory (deflated or Fortran-ordered; see NpzRowOptions)
};

/// How NpzRowReader treats members it cannot read row by row.
struct NpzRowOptions {
  /// Deflated (np.savez_compressed) and Fortran-ordered members cannot be cut into rows in place.
  /// false (default): refused with Error(kBadInput) suggesting np.savez; true: read whole into
  /// memory when the reader opens (their memory then grows with the samples; NpzMember::streamed
  /// tells a caller to warn).
  bool load_unstreamable = false;
};

/// An open .npz file whose arrays are read a range of rows (axis 0) at a time. The zip's central
/// directory and every member's .npy header are checked when it opens, so a bad or truncated file
/// is refused before any rows are read; the members' CRC-32s as their bytes are read (verify()). Copies share the open file; read_rows may run concurrently.
class NpzRowReader {
 public:
  /// Opens `path`; throws Error(kBadInput) naming the file (and member) when it is not a readable .npz.
  explicit NpzRowReader(const std::string& path, const NpzRowOptions& options = {});

  const std::string& path() const;
  /// The arrays, in file order.
  const std::vector<NpzMember>& members() const;
  /// The array named `name`, or null.
  const NpzMember* find(const std::string& name) const;
  /// Rows [begin, end) of array `name` (shape [end - begin, ...]) in a new owned tensor.
  ir::Tensor read_rows(const std::string& name, int64_t begin, int64_t end) const;
  /// All of array `name` (any rank, scalars included) in a new owned tensor.
  ir::Tensor read_whole(const std::string& name) const;
  /// Checks the CRC-32 of every member, reading the bytes no read_rows has passed (none when all
  /// rows were read in order). Rows are checked as they stream, and a member's CRC at the latest
  /// when its last row is read; a caller that stops early calls this before committing output.
  /// Error(kBadInput) naming file and member on a mismatch.
  void verify() const;

 private:
  struct State;
  std::shared_ptr<const State> state_;
};

}  // namespace scalec::onnx_io
