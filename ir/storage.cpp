#include "ir/storage.h"

#include <map>
#include <mutex>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ir/error.h"

namespace scalec::ir {

namespace {
constexpr size_t kAlignment = 64;  // one cache line; also what AVX-512 loads like
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: a FIFO (refused just below) must not block the open waiting for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw_bad_input("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_bad_input("'{}' is not a regular file", path);
  }
  auto size = static_cast<size_t>(st.st_size);
  const std::byte* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw_bad_input("cannot map '{}': {}", path, std::strerror(err));
    }
    data = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid after close
  return std::shared_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

namespace {

// Freed large blocks are kept for the next tensor of the same size. glibc serves blocks over
// 32 MB with a fresh mmap and unmaps them on free, so without this every activation of a
// batch-32 run pays a page fault per 4 KB on first touch, every run; repeated runs of one model
// ask for the same sizes again. Off under AddressSanitizer, which must see every free.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{256} << 10;
  static constexpr size_t kMaxCachedBytes = size_t{512} << 20;

  /// The smallest cached block of at least `bytes` and at most twice that (a smaller last batch
  /// reuses a full batch's blocks instead of growing the heap); its size goes to `*got`.
  void* take(size_t bytes, size_t* got) {
    if (!enabled()) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.lower_bound(bytes);
    if (it == blocks_.end() || it->first > 2 * bytes) return nullptr;
    void* p = it->second;
    *got = it->first;
    cached_ -= it->first;
    blocks_.erase(it);
    return p;
  }
  /// Keeps `p` for reuse; false when the cache is full (the caller frees it).
  bool give(void* p, size_t bytes) {
    if (!enabled()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_ + bytes > kMaxCachedBytes) return false;
    blocks_.emplace(bytes, p);
    cached_ += bytes;
    return true;
  }

 private:
  static bool enabled() {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#else
    return true;
#endif
  }
  std::mutex mu_;
  std::multimap<size_t, void*> blocks_;
  size_t cached_ = 0;
};

BlockCache& block_cache() {
  static auto* cache = new BlockCache;  // never destroyed: storages may be freed during exit
  return *cache;
}

}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t bytes) {
  auto s = allocate_uninitialized(bytes);
  std::memset(s->owned_, 0, bytes);
  return s;
}

std::shared_ptr<Storage> Storage::allocate_uninitialized(size_t bytes) {
  auto s = std::shared_ptr<Storage>(new Storage());
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  size_t capacity = rounded;
  void* p = rounded >= BlockCache::kMinBytes ? block_cache().take(rounded, &capacity) : nullptr;
  if (p == nullptr) p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  s->owned_ = static_cast<std::byte*>(p);
  s->capacity_ = capacity;
  s->data_ = s->owned_;
  s->size_ = bytes;
  return s;
}

std::shared_ptr<Storage> Storage::map(std::shared_ptr<MappedFile> file, size_t offset, size_t bytes) {
  if (offset > file->size() || bytes > file->size() - offset) {
    throw_bad_input("'{}' holds {} bytes; a tensor needs bytes [{}, {})", file->path(), file->size(),
                    offset, offset + bytes);
  }
  auto s = std::shared_ptr<Storage>(new Storage());
  s->data_ = file->data() + offset;
  s->size_ = bytes;
  s->file_offset_ = offset;
  s->file_ = std::move(file);
  return s;
}

Storage::~Storage() {
  if (owned_ != nullptr && (capacity_ < BlockCache::kMinBytes || !block_cache().give(owned_, capacity_))) {
    std::free(owned_);
  }
}

std::byte* Storage::mutable_data() {
  if (owned_ == nullptr) throw_internal("write to read-only mapped storage");
  return owned_;
}

}  // namespace scalec::ir
