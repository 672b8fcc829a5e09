// NpzRowReader: reads the zip structures itself (end of central directory, zip64 records, central
// directory, local headers) to learn where each stored member's .npy data starts, then preads rows.
// libzip is not used here: it exposes no member data offset, and its reads go through a FILE buffer.
#include "onnx_io/npz_rows.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/npy_format.h"

namespace scalec::onnx_io {

namespace {

constexpr uint32_t kEocdSig = 0x06054b50, kZip64LocatorSig = 0x07064b50, kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;
constexpr size_t kEocdBytes = 22, kZip64LocatorBytes = 20, kZip64EocdBytes = 56, kCentralBytes = 46, kLocalBytes = 30;
constexpr uint16_t kStored = 0, kDeflated = 8;
constexpr std::string_view kSuffix = ".npy";

uint64_t le(const std::byte* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads exactly out.size() bytes at `offset`; false on a short read (truncated file).
bool pread_exact(int fd, std::span<std::byte> out, uint64_t offset) {
  while (!out.empty()) {
    ssize_t got = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out = out.subspan(static_cast<size_t>(got));
    offset += static_cast<uint64_t>(got);
  }
  return true;
}

struct Entry {
  std::string member;  // name in the zip ("x.npy")
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t comp_size = 0, size = 0, local_offset = 0;
};

// The CRC-32 of a stored member, computed as its bytes stream past: rows read in order extend it,
// and the member's last bytes (or verify()) complete it, reading whatever was skipped.
struct CrcState {
  uint64_t start = 0, size = 0;  // the member's bytes in the file
  uint32_t expected = 0;
  uint64_t done = 0;             // bytes [0, done) are in `crc`
  uLong crc = 0;
  bool checked = false;
};

}  // namespace

struct NpzRowReader::State {
  std::string path;
  Fd file;
  uint64_t file_size = 0;
  std::vector<NpzMember> members;
  std::vector<uint64_t> data_pos;             // per member: where its elements start in the file
  std::map<std::string, size_t> index;        // name -> member
  std::map<std::string, ir::Tensor> loaded;   // members held whole (load_unstreamable)
  mutable std::mutex crc_mutex;               // read_rows may run concurrently
  mutable std::vector<CrcState> crc;          // per member; `checked` from the start for unstreamed ones

  [[noreturn]] void truncated(const std::string& what) const {
    throw_bad_input("'{}' is not an .npz file (not a zip archive, or truncated): {}", path, what);
  }
  std::vector<std::byte> read_at(uint64_t offset, uint64_t n, const char* what) const {
    if (offset > file_size || n > file_size - offset) truncated(what);
    std::vector<std::byte> buf(n);
    if (!pread_exact(file.fd, buf, offset)) truncated(what);
    return buf;
  }
  std::vector<Entry> central_directory() const;
  void add_member(const Entry& e, const NpzRowOptions& options, std::optional<std::vector<NamedTensor>>& whole);
  void crc_update(size_t k, uint64_t at, std::span<const std::byte> bytes) const;
  void crc_finish(size_t k) const;
};

// Extends member k's CRC with `bytes` found at member offset `at` when they continue it; completes
// the check when the member's end is reached. Caller holds crc_mutex.
void NpzRowReader::State::crc_update(size_t k, uint64_t at, std::span<const std::byte> bytes) const {
  CrcState& c = crc[k];
  if (c.checked || at > c.done || at + bytes.size() <= c.done) return;
  const auto fresh = bytes.subspan(static_cast<size_t>(c.done - at));
  c.crc = crc32_z(c.crc, reinterpret_cast<const Bytef*>(fresh.data()), fresh.size());
  c.done += fresh.size();
  if (c.done == c.size) crc_finish(k);
}

// Reads the bytes of member k not yet seen and compares the CRC with the central directory's.
void NpzRowReader::State::crc_finish(size_t k) const {
  CrcState& c = crc[k];
  if (c.checked) return;
  std::vector<std::byte> buf(std::min<uint64_t>(c.size - c.done, uint64_t{1} << 20));
  while (c.done < c.size) {
    const auto n = static_cast<size_t>(std::min<uint64_t>(buf.size(), c.size - c.done));
    if (!pread_exact(file.fd, std::span(buf).first(n), c.start + c.done)) {
      throw_bad_input("'{}' member '{}.npy': the file ends inside the member (was it truncated after opening?)", path,
                      members[k].name);
    }
    c.crc = crc32_z(c.crc, reinterpret_cast<const Bytef*>(buf.data()), n);
    c.done += n;
  }
  if (static_cast<uint32_t>(c.crc) != c.expected) {
    throw_bad_input("'{}' member '{}.npy' is corrupt: its CRC-32 is {:08x} but the archive records {:08x}", path,
                    members[k].name, static_cast<uint32_t>(c.crc), c.expected);
  }
  c.checked = true;
}

std::vector<Entry> NpzRowReader::State::central_directory() const {
  // The end-of-central-directory record is the last 22 bytes plus a comment of up to 65535.
  const uint64_t tail_bytes = std::min<uint64_t>(file_size, kEocdBytes + 0xFFFF);
  const std::vector<std::byte> tail = read_at(file_size - tail_bytes, tail_bytes, "no end of central directory");
  std::optional<size_t> eocd;
  for (size_t i = tail.size() >= kEocdBytes ? tail.size() - kEocdBytes + 1 : 0; i-- > 0;) {
    if (le(&tail[i], 4) == kEocdSig && i + kEocdBytes + le(&tail[i + 20], 2) <= tail.size()) {
      eocd = i;
      break;
    }
  }
  if (!eocd) truncated("no end of central directory");
  const std::byte* e = &tail[*eocd];
  uint64_t count = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
  const uint64_t eocd_pos = file_size - tail_bytes + *eocd;
  if (eocd_pos >= kZip64LocatorBytes) {  // numpy's writer (Python zipfile) adds zip64 records past 2 GiB
    auto loc = read_at(eocd_pos - kZip64LocatorBytes, kZip64LocatorBytes, "zip64 locator");
    if (le(loc.data(), 4) == kZip64LocatorSig) {
      auto z = read_at(le(loc.data() + 8, 8), kZip64EocdBytes, "zip64 end of central directory");
      if (le(z.data(), 4) != kZip64EocdSig) truncated("bad zip64 end of central directory");
      count = le(z.data() + 32, 8);
      cd_size = le(z.data() + 40, 8);
      cd_offset = le(z.data() + 48, 8);
    }
  }
  const std::vector<std::byte> cd = read_at(cd_offset, cd_size, "central directory out of the file");
  std::vector<Entry> entries;
  size_t pos = 0;
  for (uint64_t n = 0; n < count; ++n) {
    if (pos + kCentralBytes > cd.size() || le(&cd[pos], 4) != kCentralSig) truncated("corrupt central directory");
    const std::byte* h = &cd[pos];
    Entry en;
    en.flags = static_cast<uint16_t>(le(h + 8, 2));
    en.method = static_cast<uint16_t>(le(h + 10, 2));
    en.crc = static_cast<uint32_t>(le(h + 16, 4));
    en.comp_size = le(h + 20, 4);
    en.size = le(h + 24, 4);
    en.local_offset = le(h + 42, 4);
    const size_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
    if (pos + kCentralBytes + name_len + extra_len + comment_len > cd.size()) truncated("corrupt central directory");
    en.member.assign(reinterpret_cast<const char*>(h + kCentralBytes), name_len);
    // Zip64 extended information (id 1): the 8-byte values of the fields saturated at 0xFFFFFFFF, in order.
    const std::byte* x = h + kCentralBytes + name_len;
    for (size_t off = 0; off + 4 <= extra_len;) {
      const size_t id = le(x + off, 2), len = le(x + off + 2, 2);
      if (off + 4 + len > extra_len) break;
      if (id == 1) {
        size_t f = off + 4;
        for (uint64_t* field : {&en.size, &en.comp_size, &en.local_offset}) {
          if (*field != 0xFFFFFFFFu) continue;
          if (f + 8 > off + 4 + len) truncated("corrupt zip64 field");
          *field = le(x + f, 8);
          f += 8;
        }
      }
      off += 4 + len;
    }
    entries.push_back(std::move(en));
    pos += kCentralBytes + name_len + extra_len + comment_len;
  }
  return entries;
}

void NpzRowReader::State::add_member(const Entry& e, const NpzRowOptions& options,
                                     std::optional<std::vector<NamedTensor>>& whole) {
  const std::string what = fmt::format("'{}' member '{}'", path, e.member);
  if (!e.member.ends_with(kSuffix)) throw_bad_input("{}: not an .npy array (an .npz holds only NAME.npy members)", what);
  NpzMember m;
  m.name = e.member.substr(0, e.member.size() - kSuffix.size());
  if (index.contains(m.name)) throw_bad_input("'{}': the array '{}' appears twice", path, m.name);
  if ((e.flags & 1u) != 0) throw_bad_input("{}: encrypted members are not supported", what);
  if (e.method != kStored && e.method != kDeflated) throw_unsupported_zip_method(what, e.method);
  auto local = read_at(e.local_offset, kLocalBytes, "local header out of the file");
  if (le(local.data(), 4) != kLocalSig) truncated(fmt::format("no local header for member '{}'", e.member));
  const uint64_t start = e.local_offset + kLocalBytes + le(local.data() + 26, 2) + le(local.data() + 28, 2);
  if (start > file_size || e.comp_size > file_size - start) {
    throw_bad_input("{}: truncated member (the file ends before its data does)", what);
  }
  uint64_t data = 0;
  bool fortran = false;
  CrcState c{start, e.size, e.crc, 0, crc32_z(0, nullptr, 0), e.method != kStored};
  if (e.method == kStored) {
    auto prefix = read_at(start, std::min<uint64_t>(e.size, kNpyPrefixBytes), "member header");
    const size_t offset = npy_data_offset(prefix, what);
    if (offset > e.size) {
      throw_bad_input("{}: truncated .npy member: the header needs {} bytes, the member holds {}", what, offset, e.size);
    }
    const std::vector<std::byte> header = read_at(start, offset, "member header");
    NpyHeader h = parse_npy_header(header, what);
    c.crc = crc32_z(c.crc, reinterpret_cast<const Bytef*>(header.data()), header.size());
    c.done = offset;
    check_npy_data_size(h, e.size - offset, what);
    m.dtype = h.dtype;
    m.shape = h.shape;
    fortran = h.fortran_order && h.shape.size() > 1;
    data = start + offset;
  }
  if (e.method != kStored || fortran) {
    const char* why = e.method != kStored ? "is compressed (np.savez_compressed)" : "is Fortran-ordered";
    if (!options.load_unstreamable) {
      throw_bad_input("{} {}, so its rows cannot be read on demand; save the data with np.savez (uncompressed, "
                      "C order) to stream it", what, why);
    }
    if (!whole) whole = read_npz(path);
    auto it = std::find_if(whole->begin(), whole->end(), [&](const NamedTensor& t) { return t.first == m.name; });
    if (it == whole->end()) throw_internal("{}: read_npz did not return the member", what);
    m.dtype = it->second.dtype();
    m.shape = it->second.shape();
    m.streamed = false;
    c.checked = true;  // read_npz checked its CRC (libzip, at the member's end)
    loaded.emplace(m.name, it->second);
  }
  crc.push_back(c);
  index.emplace(m.name, members.size());
  members.push_back(std::move(m));
  data_pos.push_back(data);
}

NpzRowReader::NpzRowReader(const std::string& path, const NpzRowOptions& options) {
  check_data_file(path, "an .npz file");
  auto s = std::make_shared<State>();
  s->path = path;
  s->file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (s->file.fd < 0) throw_bad_input("cannot read '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(s->file.fd, &st) != 0) throw_bad_input("cannot read '{}': {}", path, std::strerror(errno));
  s->file_size = static_cast<uint64_t>(st.st_size);
  std::optional<std::vector<NamedTensor>> whole;  // read once, only when a member needs it
  for (const Entry& e : s->central_directory()) {
    if (e.member.ends_with('/')) continue;  // a folder entry holds no array
    s->add_member(e, options, whole);
  }
  state_ = std::move(s);
}

void NpzRowReader::verify() const {
  std::lock_guard lock(state_->crc_mutex);
  for (size_t k = 0; k < state_->crc.size(); ++k) state_->crc_finish(k);
}

const std::string& NpzRowReader::path() const { return state_->path; }

const std::vector<NpzMember>& NpzRowReader::members() const { return state_->members; }

const NpzMember* NpzRowReader::find(const std::string& name) const {
  auto it = state_->index.find(name);
  return it == state_->index.end() ? nullptr : &state_->members[it->second];
}

ir::Tensor NpzRowReader::read_rows(const std::string& name, int64_t begin, int64_t end) const {
  const State& s = *state_;
  const NpzMember* m = find(name);
  if (m == nullptr) throw_bad_input("'{}' has no array named '{}'", s.path, name);
  if (m->shape.empty()) throw_bad_input("'{}' array '{}' is a scalar: it has no rows", s.path, name);
  const int64_t rows = m->shape[0];
  if (begin < 0 || begin > end || end > rows) {
    throw_bad_input("'{}' array '{}': rows [{}, {}) are outside its {} rows", s.path, name, begin, end, rows);
  }
  std::vector<int64_t> shape = m->shape;
  shape[0] = end - begin;
  ir::Tensor t(m->dtype, shape);
  int64_t row_elems = 1;
  for (size_t i = 1; i < m->shape.size(); ++i) row_elems *= m->shape[i];
  const size_t row_size = ir::dtype_storage_bytes(m->dtype, row_elems);
  auto out = t.mutable_bytes();
  const size_t n = static_cast<size_t>(end - begin) * row_size;
  if (n == 0) return t;
  if (!m->streamed) {
    const ir::Tensor& whole = s.loaded.at(name);
    std::memcpy(out.data(), whole.bytes().data() + static_cast<size_t>(begin) * row_size, n);
    return t;
  }
  const uint64_t pos = s.data_pos[s.index.at(name)] + static_cast<uint64_t>(begin) * row_size;
  if (!pread_exact(s.file.fd, out.first(n), pos)) {
    throw_bad_input("'{}' array '{}': the file ends before rows [{}, {}) (was it truncated after opening?)", s.path,
                    name, begin, end);
  }
  const size_t k = s.index.at(name);
  std::lock_guard lock(s.crc_mutex);
  s.crc_update(k, pos - s.crc[k].start, out.first(n));
  if (end == rows) s.crc_finish(k);  // the member's last rows: at the latest here
  return t;
}

ir::Tensor NpzRowReader::read_whole(const std::string& name) const {
  const State& s = *state_;
  const NpzMember* m = find(name);
  if (m == nullptr) throw_bad_input("'{}' has no array named '{}'", s.path, name);
  if (!m->shape.empty()) return read_rows(name, 0, m->shape[0]);
  if (!m->streamed) return s.loaded.at(name);
  ir::Tensor t(m->dtype, std::vector<int64_t>{});
  auto out = t.mutable_bytes();
  if (!out.empty() && !pread_exact(s.file.fd, out, s.data_pos[s.index.at(name)])) {
    throw_bad_input("'{}' array '{}': the file ends before its data (was it truncated after opening?)", s.path, name);
  }
  return t;
}

}  // namespace scalec::onnx_io
