#pragma once
// File helpers for onnx_io: whole-file reads and atomic writes. No protobuf here.
#include <cstddef>
#include <span>
#include <string>

namespace scalec::onnx_io {

/// Reads a whole regular file; throws Error(kBadInput) naming it when it is missing, a folder or empty.
std::string read_file(const std::string& path);

/// Writes a file atomically: bytes go to a hidden temp file beside `path`, which commit() renames
/// over `path`. Destroying an uncommitted writer removes the temp file, so a failure leaves nothing.
/// An existing non-regular target (/dev/stdout, a FIFO, /dev/full) is written directly instead.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::span<const std::byte> data);
  void write(const std::string& data) { write(std::as_bytes(std::span(data.data(), data.size()))); }
  /// Writes `n` zero bytes, as a hole where the file system allows (sparse output).
  void write_zeros(size_t n);
  /// Bytes written so far.
  size_t size() const { return size_; }
  /// Flushes to disk and renames into place.
  void commit();
  /// True when the target can hold a second file beside it (not a device or FIFO).
  bool is_regular_target() const { return direct_ == false; }

 private:
  void fail(const char* what);
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool direct_ = false;
  bool committed_ = false;
  bool pending_hole_ = false;
  size_t size_ = 0;
};

/// Folder part of `path` ("." when there is none).
std::string dirname_of(const std::string& path);
/// File part of `path`.
std::string basename_of(const std::string& path);

}  // namespace scalec::onnx_io
