// The .npy header: magic and version, the dict literal, and dtype strings.
#include <algorithm>
#include <array>
#include <string_view>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/npy_format.h"

namespace scalec::onnx_io {

using ir::DType;

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kAlign = 64;  // numpy aligns the data to 64 bytes since 1.14 (ARRAY_ALIGN)

// NumPy's type codes (without the byte-order character) and the types they map to.
struct NpyType {
  std::string_view code;
  DType dtype;
  std::string_view numpy_name;
};
constexpr std::array<NpyType, 14> kTypes = {{
    {"f2", DType::kFloat16, "float16"}, {"f4", DType::kFloat, "float32"},  {"f8", DType::kDouble, "float64"},
    {"i1", DType::kInt8, "int8"},       {"i2", DType::kInt16, "int16"},    {"i4", DType::kInt32, "int32"},
    {"i8", DType::kInt64, "int64"},     {"u1", DType::kUInt8, "uint8"},    {"u2", DType::kUInt16, "uint16"},
    {"u4", DType::kUInt32, "uint32"},   {"u8", DType::kUInt64, "uint64"},  {"b1", DType::kBool, "bool"},
    {"c8", DType::kComplex64, "complex64"}, {"c16", DType::kComplex128, "complex128"},
}};

const NpyType* find_type(DType t) {
  for (const auto& k : kTypes) {
    if (k.dtype == t) return &k;
  }
  return nullptr;
}

DType dtype_from_descr(const std::string& descr, const std::string& what) {
  std::string_view code = descr;
  char order = '|';
  if (!code.empty() && std::string_view("<>|=").find(code.front()) != std::string_view::npos) {
    order = code.front();
    code.remove_prefix(1);
  }
  if (code.starts_with("O")) throw_bad_input("{}: object arrays ('{}') are not supported: they hold pickled Python objects", what, descr);
  for (const auto& k : kTypes) {
    if (k.code != code) continue;
    if (order == '>' && ir::dtype_bits(k.dtype) > 8) {
      throw_bad_input("{}: big-endian data ('{}') is not supported; save it little-endian (arr.astype('<{}'))",
                      what, descr, code);
    }
    return k.dtype;
  }
  throw_bad_input("{}: unsupported dtype '{}' (supported: float16/32/64, int8-64, uint8-64, bool, complex64/128)",
                  what, descr);
}

// A reader for the header's Python dict literal: {'key': value, ...} with string, bool and tuple values.
class DictParser {
 public:
  DictParser(std::string_view text, const std::string& what) : s_(text), what_(what) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (!consume('}')) {
      std::string key = string_literal();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (peek() == '[') fail("structured dtypes (a list descr) are not supported");
        h.dtype = dtype_from_descr(string_literal(), what_);
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        have_shape = true;
      } else {
        fail("unknown key '" + key + "'");
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    if (!have_descr || !have_order || !have_shape) fail("it needs the keys 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) {
    throw_bad_input("{}: bad .npy header: {} (header: {})", what_, problem, s_.substr(0, 200));
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  char peek() { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool consume(char c) {
    skip_ws();
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) fail(fmt::format("expected '{}' at offset {}", c, i_));
  }
  std::string string_literal() {
    skip_ws();
    char q = peek();
    if (q != '\'' && q != '"') fail(fmt::format("expected a string at offset {}", i_));
    size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    for (bool value : {true, false}) {
      std::string_view word = value ? "True" : "False";
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return value;
      }
    }
    fail("fortran_order must be True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(');
    while (!consume(')')) {
      skip_ws();
      int64_t d = 0;
      size_t start = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (__builtin_mul_overflow(d, 10, &d) || __builtin_add_overflow(d, s_[i_] - '0', &d)) fail("dimension too large");
        ++i_;
      }
      if (i_ == start) fail("shape must be a tuple of non-negative integers");
      if (peek() == 'L') ++i_;  // Python 2 long literal
      dims.push_back(d);
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }

  std::string_view s_;
  const std::string& what_;
  size_t i_ = 0;
};

uint32_t read_le(std::span<const std::byte> b, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t k = 0; k < n; ++k) v |= static_cast<uint32_t>(b[at + k]) << (8 * k);
  return v;
}

}  // namespace

size_t npy_data_offset(std::span<const std::byte> prefix, const std::string& what) {
  std::string_view head(reinterpret_cast<const char*>(prefix.data()), std::min(prefix.size(), kMagic.size()));
  if (head != kMagic.substr(0, head.size())) throw_bad_input("{}: not an .npy file (no \\x93NUMPY magic)", what);
  if (prefix.size() < 10) throw_bad_input("{}: truncated .npy file ({} bytes, no complete header)", what, prefix.size());
  auto major = static_cast<int>(prefix[6]), minor = static_cast<int>(prefix[7]);
  if (major < 1 || major > 3 || minor != 0) {
    throw_bad_input("{}: unsupported .npy format version {}.{} (1.0, 2.0 and 3.0 are read)", what, major, minor);
  }
  if (major == 1) return 10 + read_le(prefix, 8, 2);
  if (prefix.size() < 12) throw_bad_input("{}: truncated .npy file ({} bytes, no complete header)", what, prefix.size());
  return 12 + static_cast<size_t>(read_le(prefix, 8, 4));
}

NpyHeader parse_npy_header(std::span<const std::byte> header, const std::string& what) {
  size_t offset = npy_data_offset(header, what);
  if (header.size() < offset) {
    throw_bad_input("{}: truncated .npy file: the header needs {} bytes, the file holds {}", what, offset, header.size());
  }
  size_t start = static_cast<int>(header[6]) == 1 ? 10 : 12;
  std::string_view text(reinterpret_cast<const char*>(header.data()) + start, offset - start);
  NpyHeader h = DictParser(text, what).parse();
  h.data_offset = offset;
  size_t numel = 1;
  for (int64_t d : h.shape) {
    if (__builtin_mul_overflow(numel, static_cast<size_t>(d), &numel)) throw_bad_input("{}: shape too large", what);
  }
  if (__builtin_mul_overflow(numel, static_cast<size_t>(ir::dtype_bits(h.dtype) / 8), &h.data_bytes)) {
    throw_bad_input("{}: shape too large", what);
  }
  return h;
}

void check_npy_data_size(const NpyHeader& h, size_t available, const std::string& what) {
  if (available < h.data_bytes) {
    throw_bad_input("{}: truncated: data is shorter than the header says ({}{} needs {} bytes, found {})", what,
                    numpy_dtype_name(h.dtype), ir::shape_to_string(h.shape), h.data_bytes, available);
  }
  if (available > h.data_bytes) {
    throw_bad_input("{}: {} bytes follow the data of {}{} that the header does not describe", what,
                    available - h.data_bytes, numpy_dtype_name(h.dtype), ir::shape_to_string(h.shape));
  }
}

std::string npy_header_for(const ir::Tensor& t, const std::string& what) {
  const NpyType* type = find_type(t.dtype());
  if (type == nullptr) throw_bad_input("{}: NumPy has no {} dtype to store it as", what, ir::dtype_name(t.dtype()));
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += fmt::format("{}{}", i ? ", " : "", t.shape()[i]);
  shape += t.shape().size() == 1 ? ",)" : ")";
  char order = ir::dtype_bits(t.dtype()) == 8 ? '|' : '<';
  std::string dict = fmt::format("{{'descr': '{}{}', 'fortran_order': False, 'shape': {}, }}", order, type->code, shape);
  size_t prefix = dict.size() + 1 + 10 > 65535 ? 12 : 10;  // format 2.0 only when 1.0's uint16 length overflows
  size_t total = (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic);
  out += static_cast<char>(prefix == 10 ? 1 : 2);
  out += '\0';
  for (size_t k = 0; k < prefix - 8; ++k) out += static_cast<char>((dict.size() >> (8 * k)) & 0xff);
  return out + dict;
}

std::string numpy_dtype_name(DType t) {
  const NpyType* type = find_type(t);
  return type ? std::string(type->numpy_name) : std::string(ir::dtype_name(t));
}

}  // namespace scalec::onnx_io
