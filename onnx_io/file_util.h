#pragma once
// File helpers for onnx_io: whole-file reads and atomic writes. No protobuf here.
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace scalec::onnx_io {

/// Reads a whole regular file; throws Error(kBadInput) naming it when it is missing, a folder or empty.
std::string read_file(const std::string& path);

/// The final outputs of one command, committed together: a file an AtomicFile commits into a group
/// is flushed and closed but keeps its temp name until commit() renames every staged file into
/// place; destroying a group before that removes them, so a command that fails leaves none.
class CommitGroup {
 public:
  CommitGroup() = default;
  ~CommitGroup();
  CommitGroup(const CommitGroup&) = delete;
  CommitGroup& operator=(const CommitGroup&) = delete;

  /// Takes ownership of `temp`, which commit() renames to `final_path`.
  void stage(std::string temp, std::string final_path);
  /// Renames every staged file into place, in the order staged (external data before its model).
  /// Throws Error(kIoError) naming the path; the files not yet renamed are then removed.
  void commit();
  /// The staged files as (temp, final path) pairs.
  const std::vector<std::pair<std::string, std::string>>& staged() const { return staged_; }
  /// The file that holds `final_path` until commit(): its temp file when staged, else `final_path`.
  std::string current_path(const std::string& final_path) const;

 private:
  std::vector<std::pair<std::string, std::string>> staged_;
  size_t renamed_ = 0;
};

/// Writes a file atomically: bytes go to a hidden temp file beside `path`, which commit() renames
/// over `path` (or hands to `group`, which renames it with the command's other outputs).
/// Destroying an uncommitted writer removes the temp file, so a failure leaves nothing.
/// An existing non-regular target (/dev/stdout, a FIFO, /dev/full) is written directly instead.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path, CommitGroup* group = nullptr);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::span<const std::byte> data);
  void write(const std::string& data) { write(std::as_bytes(std::span(data.data(), data.size()))); }
  /// Writes `n` zero bytes, as a hole where the file system allows (sparse output).
  void write_zeros(size_t n);
  /// Bytes written so far.
  size_t size() const { return size_; }
  /// Flushes to disk and renames into place (or stages the file in the group).
  void commit();
  /// True when the target can hold a second file beside it (not a device or FIFO).
  bool is_regular_target() const { return direct_ == false; }

 private:
  void fail(const char* what);
  std::string path_;
  std::string temp_path_;
  CommitGroup* group_ = nullptr;
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
