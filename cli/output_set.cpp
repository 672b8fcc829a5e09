#include "cli/output_set.h"

#include <sys/stat.h>

#include <cstdlib>

#include "ir/error.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {

// What decides whether two paths name one file.
struct Identity {
  bool exists = false, regular = false;
  dev_t dev = 0;
  ino_t ino = 0;
  std::string resolved;  ///< links and folders resolved; for a missing file, its folder resolved
};

std::string real_path(const std::string& path) {
  char* p = ::realpath(path.c_str(), nullptr);
  if (p == nullptr) return {};
  std::string s(p);
  std::free(p);
  return s;
}

Identity identify(const std::string& path) {
  Identity id;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    id.exists = true;
    id.regular = S_ISREG(st.st_mode);
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.resolved = real_path(path);
    return id;
  }
  const std::string folder = real_path(onnx_io::dirname_of(path));
  id.resolved = folder.empty() ? path : folder + "/" + onnx_io::basename_of(path);
  return id;
}

// Devices and FIFOs (/dev/null, /dev/stdout) are written through, never replaced: several outputs
// may share one, and one harms no input.
bool same_file(const Identity& a, const Identity& b) {
  if ((a.exists && !a.regular) || (b.exists && !b.regular)) return false;
  if (a.exists && b.exists) return a.dev == b.dev && a.ino == b.ino;
  return a.resolved == b.resolved;
}

}  // namespace

void OutputSet::allow_in_place(bool given) {
  has_in_place_ = true;
  in_place_ = given;
}

void OutputSet::input(const std::string& flag, const std::string& path) {
  if (path.empty() || path == "-") return;
  const bool model = flag == "model";
  inputs_.push_back({flag, path, model ? "the input model" : fmt::format("the {} file", flag), model});
}

void OutputSet::model_data(const std::string& flag, const ir::Model& model) {
  for (const std::string& path : onnx_io::external_data_files(model)) {
    const bool main = flag == "model";
    inputs_.push_back({flag, path, main ? "external data of the input model" : fmt::format("external data of {}", flag), main});
  }
}

void OutputSet::output(const std::string& flag, const std::string& path) {
  if (path.empty() || path == "-") return;
  outputs_.push_back({flag, path, fmt::format("the {} output", flag), flag == "-o"});
}

void OutputSet::check_output(const File& out, const std::vector<File>& earlier_outputs) const {
  const Identity id = identify(out.path);
  for (const File& in : inputs_) {
    if (in.flag == out.flag) continue;  // --checkpoint X --resume reads and writes X
    if (!same_file(id, identify(in.path))) continue;
    if (in_place_ && in.model && out.model) continue;
    const std::string also = in.path == out.path ? "" : fmt::format(" '{}'", in.path);
    const std::string hint = has_in_place_ && in.model && out.model ? "; pass --in-place to overwrite it" : "";
    throw Error(ExitCode::kUsage, fmt::format("{} '{}' is {}{}{}", out.flag, out.path, in.what, also, hint));
  }
  for (const File& other : earlier_outputs) {
    if (!same_file(id, identify(other.path))) continue;
    const std::string also = other.path == out.path ? "" : fmt::format(" '{}'", other.path);
    throw Error(ExitCode::kUsage, fmt::format("{} '{}' is also {}{}: two outputs cannot share a file", out.flag,
                                              out.path, other.what, also));
  }
}

void OutputSet::check() const {
  std::vector<File> earlier;
  for (const File& out : outputs_) {
    check_output(out, earlier);
    earlier.push_back(out);
  }
}

void OutputSet::commit() {
  // The staged files, named after the output they belong to: "-o" writes OUT and OUT.data.
  std::vector<File> staged;
  for (const auto& [temp, final_path] : group_.staged()) {
    File f{"", final_path, "", false};
    for (const File& out : outputs_) {
      if (final_path == out.path) f = out;
      if (final_path == out.path + ".data") f = {out.flag, final_path, fmt::format("the external data of {}", out.flag), out.model};
    }
    if (f.flag.empty()) f = {"output", final_path, "an output", false};
    check_output(f, staged);
    staged.push_back(f);
  }
  group_.commit();
}

}  // namespace scalec::cli
