#pragma once
// Byte storage behind a Tensor: owned memory, or a read-only window onto a mapped file.
#include <cstddef>
#include <memory>
#include <string>

namespace scalec::ir {

/// A file mapped read-only into memory; shared by every tensor that points into it.
class MappedFile {
 public:
  /// Maps `path`; throws Error(kBadInput) naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const std::byte* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const std::byte* data_;
  size_t size_;
};

/// Contiguous bytes. Owned storage is writable; mapped storage is read-only (the input file is
/// never modified: Tensor copies before the first write).
class Storage {
 public:
  /// Zero-initialized, 64-byte aligned owned storage.
  static std::shared_ptr<Storage> allocate(size_t bytes);
  /// Like allocate() but the bytes are left as they are: for kernels that write every element
  /// (zero-filling a batch-32 activation is a full extra pass over memory).
  static std::shared_ptr<Storage> allocate_uninitialized(size_t bytes);
  /// A window [offset, offset + bytes) of a mapped file; no copy.
  static std::shared_ptr<Storage> map(std::shared_ptr<MappedFile> file, size_t offset, size_t bytes);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  const std::byte* data() const { return data_; }
  /// Writable pointer; only valid for owned storage.
  std::byte* mutable_data();
  size_t size() const { return size_; }
  bool is_mapped() const { return file_ != nullptr; }
  /// The mapped file, or null for owned storage.
  const MappedFile* file() const { return file_.get(); }
  size_t file_offset() const { return file_offset_; }

 private:
  Storage() = default;
  std::byte* owned_ = nullptr;
  size_t capacity_ = 0;  ///< bytes allocated for owned_ (size rounded up to the alignment)
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::shared_ptr<MappedFile> file_;
  size_t file_offset_ = 0;
};

}  // namespace scalec::ir
