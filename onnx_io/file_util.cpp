#include "onnx_io/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "ir/error.h"

namespace scalec::onnx_io {

namespace {
std::atomic<int> temp_counter{0};

std::string describe_missing_parent(const std::string& path) {
  std::string dir = dirname_of(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fmt::format("folder '{}' does not exist", dir);
  if (!S_ISDIR(st.st_mode)) return fmt::format("'{}' is not a folder", dir);
  return std::strerror(errno);
}
}  // namespace

std::string dirname_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string basename_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_bad_input("cannot read '{}': {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw_bad_input("'{}' is a folder, not an ONNX model", path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_bad_input("cannot read '{}': {}", path, std::strerror(errno));
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw_bad_input("cannot read '{}': {}", path, std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (data.empty()) throw_bad_input("'{}' is empty (0 bytes): not an ONNX model", path);
  return data;
}

AtomicFile::AtomicFile(std::string path, CommitGroup* group) : path_(std::move(path)), group_(group) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw_io_error("cannot write '{}': it is a folder", path_);
    direct_ = !S_ISREG(st.st_mode);  // a device or FIFO: there is nothing to rename over
  }
  if (direct_) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) throw_io_error("cannot write '{}': {}", path_, std::strerror(errno));
    return;
  }
  temp_path_ = fmt::format("{}/.{}.scalec-tmp-{}-{}", dirname_of(path_), basename_of(path_), ::getpid(),
                           temp_counter++);
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) throw_io_error("cannot write '{}': {}", path_, describe_missing_parent(path_));
    throw_io_error("cannot write '{}': {}", path_, std::strerror(err));
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::fail(const char* what) {
  int err = errno;
  throw_io_error("cannot write '{}': {} ({})", path_, std::strerror(err), what);
}

void AtomicFile::write(std::span<const std::byte> data) {
  pending_hole_ = false;  // data after a hole fixes the file's length
  const std::byte* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  size_ += data.size();
}

void AtomicFile::write_zeros(size_t n) {
  if (n == 0) return;
  if (!direct_ && ::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) >= 0) {
    size_ += n;
    pending_hole_ = true;  // the file's length is fixed at commit with ftruncate
    return;
  }
  static const std::byte zeros[4096] = {};
  while (n > 0) {
    size_t chunk = std::min(n, sizeof zeros);
    write(std::span(zeros, chunk));
    n -= chunk;
  }
}

void AtomicFile::commit() {
  if (direct_) {
    committed_ = true;
    return;
  }
  if (pending_hole_ && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) fail("truncate");
  if (::fsync(fd_) != 0) fail("fsync");
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail("close");
  }
  fd_ = -1;
  if (group_ != nullptr) {
    group_->stage(temp_path_, path_);  // the group removes or renames it from now on
    committed_ = true;
    return;
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("rename");
  committed_ = true;
}

CommitGroup::~CommitGroup() {
  for (size_t i = renamed_; i < staged_.size(); ++i) ::unlink(staged_[i].first.c_str());
}

void CommitGroup::stage(std::string temp, std::string final_path) {
  staged_.emplace_back(std::move(temp), std::move(final_path));
}

void CommitGroup::commit() {
  for (; renamed_ < staged_.size(); ++renamed_) {
    const auto& [temp, final_path] = staged_[renamed_];
    if (::rename(temp.c_str(), final_path.c_str()) != 0) {
      throw_io_error("cannot write '{}': {} (rename)", final_path, std::strerror(errno));
    }
  }
}

std::string CommitGroup::current_path(const std::string& final_path) const {
  for (size_t i = renamed_; i < staged_.size(); ++i) {
    if (staged_[i].second == final_path) return staged_[i].first;
  }
  return final_path;
}

}  // namespace scalec::onnx_io
