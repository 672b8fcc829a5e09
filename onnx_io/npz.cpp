// .npz files: a zip archive of .npy members, stored (np.savez) or deflated (np.savez_compressed).
#include <zip.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <set>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/file_util.h"
#include "onnx_io/npy_format.h"

namespace scalec::onnx_io {

namespace {

constexpr std::string_view kSuffix = ".npy";
constexpr uint64_t kMaxDeflateRatio = 1100;  // deflate cannot exceed about 1032:1

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileCloser>;

std::string zip_code_message(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string msg = zip_error_strerror(&e);
  zip_error_fini(&e);
  return msg;
}

// Reads exactly `n` bytes of a member; a short read means a corrupt or truncated member.
void read_exact(zip_file_t* f, std::byte* out, size_t n, const std::string& what) {
  while (n > 0) {
    zip_int64_t got = zip_fread(f, out, n);
    if (got < 0) throw_bad_input("{}: corrupt member: {}", what, zip_file_strerror(f));
    if (got == 0) throw_bad_input("{}: truncated member (ends {} bytes early)", what, n);
    out += got;
    n -= static_cast<size_t>(got);
  }
}

ir::Tensor read_member(zip_t* za, zip_uint64_t index, const std::string& what) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
    throw_bad_input("{}: cannot read its size: {}", what, zip_strerror(za));
  }
  if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size > st.comp_size * kMaxDeflateRatio + 4096) {
    throw_bad_input("{}: corrupt member: {} bytes claimed from {} compressed", what, st.size, st.comp_size);
  }
  if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE) {
    throw_unsupported_zip_method(what, st.comp_method);
  }
  ZipFilePtr f(zip_fopen_index(za, index, 0));
  if (!f) throw_bad_input("{}: cannot open member: {}", what, zip_strerror(za));
  // The header first (its length is in the first bytes), then the elements straight into the tensor.
  std::string header(std::min<zip_uint64_t>(st.size, kNpyPrefixBytes), '\0');
  auto* hp = reinterpret_cast<std::byte*>(header.data());
  read_exact(f.get(), hp, header.size(), what);
  size_t offset = npy_data_offset(std::as_bytes(std::span(header)), what);
  if (offset > st.size) {
    throw_bad_input("{}: truncated .npy member: the header needs {} bytes, the member holds {}", what, offset, st.size);
  }
  size_t have = header.size();
  header.resize(offset);
  read_exact(f.get(), reinterpret_cast<std::byte*>(header.data()) + have, offset - have, what);
  NpyHeader h = parse_npy_header(std::as_bytes(std::span(header)), what);
  check_npy_data_size(h, st.size - offset, what);
  ir::Tensor t(h.dtype, h.shape);
  if (h.fortran_order) {
    std::vector<std::byte> raw(h.data_bytes);
    read_exact(f.get(), raw.data(), raw.size(), what);
    t = npy_fortran_to_c(h, raw);
  } else if (h.data_bytes > 0) {
    read_exact(f.get(), t.mutable_bytes().data(), h.data_bytes, what);
  }
  std::byte extra;
  if (zip_fread(f.get(), &extra, 1) != 0) {  // the CRC is checked when the member's end is reached
    throw_bad_input("{}: corrupt member: {}", what, zip_file_strerror(f.get()));
  }
  return t;
}

// A local 1980-01-01 00:00: libzip converts times to DOS dates in local time, so this gives the
// same bytes in every time zone (and is the date np.savez writes).
time_t fixed_mtime() {
  std::tm tm{};
  tm.tm_year = 80;
  tm.tm_mday = 1;
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

[[noreturn]] void throw_zip_write(const std::string& path, const std::string& why) {
  throw_internal("cannot build the .npz archive for '{}': {}", path, why);
}

// The archive in memory (elements are not copied until zip_close writes them).
std::string build_npz(const std::string& path, const std::vector<NamedTensor>& arrays) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* out = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (out == nullptr) throw_zip_write(path, zip_error_strerror(&err));
  zip_source_keep(out);  // zip_close releases its reference; the bytes are read back below
  std::unique_ptr<zip_source_t, decltype(&zip_source_free)> out_ref(out, &zip_source_free);
  ZipPtr za(zip_open_from_source(out, ZIP_CREATE | ZIP_TRUNCATE, &err));
  if (!za) {
    zip_source_free(out);  // the reference zip_open_from_source would have taken over
    throw_zip_write(path, zip_error_strerror(&err));
  }

  std::vector<std::string> headers;
  headers.reserve(arrays.size());  // fragments point into these strings
  std::set<std::string> seen;
  time_t mtime = fixed_mtime();
  for (const auto& [name, t] : arrays) {
    if (!seen.insert(name).second) throw_bad_input("cannot write '{}': two arrays are named '{}'", path, name);
    headers.push_back(npy_header_for(t, fmt::format("cannot write '{}': array '{}'", path, name)));
    auto data = t.bytes();
    zip_buffer_fragment_t frags[2] = {{reinterpret_cast<zip_uint8_t*>(headers.back().data()), headers.back().size()},
                                      {reinterpret_cast<zip_uint8_t*>(const_cast<std::byte*>(data.data())), data.size()}};
    zip_source_t* src = zip_source_buffer_fragment_create(frags, data.empty() ? 1 : 2, 0, &err);
    if (src == nullptr) throw_zip_write(path, zip_error_strerror(&err));
    std::string entry = name + std::string(kSuffix);
    zip_int64_t idx = zip_file_add(za.get(), entry.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      throw_zip_write(path, zip_strerror(za.get()));
    }
    auto i = static_cast<zip_uint64_t>(idx);
    if (zip_set_file_compression(za.get(), i, ZIP_CM_STORE, 0) != 0 || zip_file_set_mtime(za.get(), i, mtime, 0) != 0) {
      throw_zip_write(path, zip_strerror(za.get()));
    }
  }
  if (zip_close(za.get()) != 0) throw_zip_write(path, zip_strerror(za.get()));
  (void)za.release();  // zip_close freed it

  zip_stat_t st;
  if (zip_source_stat(out, &st) != 0 || zip_source_open(out) != 0) throw_zip_write(path, "cannot read the archive back");
  std::string bytes(st.size, '\0');
  zip_int64_t got = zip_source_read(out, bytes.data(), bytes.size());
  zip_source_close(out);
  if (got != static_cast<zip_int64_t>(bytes.size())) throw_zip_write(path, "short read of the archive");
  return bytes;
}

}  // namespace

void throw_unsupported_zip_method(const std::string& what, int method) {
  const char* name = method == ZIP_CM_BZIP2 ? " (bzip2)" : method == ZIP_CM_LZMA ? " (lzma)" : method == ZIP_CM_XZ ? " (xz)" : "";
  throw_bad_input("{}: unsupported zip compression method {}{}; an .npz member is stored (np.savez) or deflated "
                  "(np.savez_compressed)", what, method, name);
}

std::vector<NamedTensor> read_npz(const std::string& path) {
  check_data_file(path, "an .npz file");
  int code = 0;
  ZipPtr za(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!za) {
    if (code == ZIP_ER_NOZIP) throw_bad_input("'{}' is not an .npz file (not a zip archive, or truncated)", path);
    throw_bad_input("cannot read '{}' as an .npz file: {}", path, zip_code_message(code));
  }
  std::vector<NamedTensor> arrays;
  std::set<std::string> seen;
  zip_int64_t n = zip_get_num_entries(za.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    auto index = static_cast<zip_uint64_t>(i);
    const char* raw_name = zip_get_name(za.get(), index, 0);
    if (raw_name == nullptr) throw_bad_input("'{}': cannot read member {}: {}", path, i, zip_strerror(za.get()));
    std::string member = raw_name;
    if (member.ends_with('/')) continue;  // a folder entry holds no array
    std::string what = fmt::format("'{}' member '{}'", path, member);
    if (!member.ends_with(kSuffix)) throw_bad_input("{}: not an .npy array (an .npz holds only NAME.npy members)", what);
    std::string name = member.substr(0, member.size() - kSuffix.size());
    if (!seen.insert(name).second) throw_bad_input("'{}': the array '{}' appears twice", path, name);
    arrays.emplace_back(name, read_member(za.get(), index, what));
  }
  return arrays;
}

void write_npz(const std::string& path, const std::vector<NamedTensor>& arrays, CommitGroup* group) {
  // libzip writes nothing for an archive without entries; np.savez() writes the empty-zip record.
  std::string bytes = arrays.empty() ? std::string("PK\x05\x06", 4) + std::string(18, '\0') : build_npz(path, arrays);
  AtomicFile f(path, group);
  f.write(bytes);
  f.commit();
}

}  // namespace scalec::onnx_io
