#pragma once
// Path safety for one command (DESIGN.md "Outputs"): no file a command writes may be a file it
// reads, or a file another of its outputs names — the same file by inode, or by path once links
// and folders are resolved, not only the same string — and its final outputs are committed
// together when it has succeeded, so a failure (exit 1, 2, 4, 70) leaves none of them.
#include <string>
#include <vector>

#include "ir/graph.h"
#include "onnx_io/file_util.h"

namespace scalec::cli {

/// The files one command reads and writes, and the commit of its outputs.
class OutputSet {
 public:
  /// For commands with --in-place: `given` lets -o be the input model (and its external data).
  void allow_in_place(bool given);
  /// A file the command reads; `flag` names it ("model" is the input model, else "--data", ...).
  void input(const std::string& flag, const std::string& path);
  /// The external data files of the model read from `flag` (known once it is loaded).
  void model_data(const std::string& flag, const ir::Model& model);
  /// A file the command writes; "" (not asked for) and "-" (stdout) are skipped.
  void output(const std::string& flag, const std::string& path);
  /// Throws Error(kUsage) naming both files when an output is an input or another output.
  void check() const;
  /// Where the command's writers stage their files (SaveOptions::commit_group, write_npz, write_report).
  onnx_io::CommitGroup* group() { return &group_; }
  /// The file that holds `path`'s bytes now: its temp file until commit().
  std::string current_path(const std::string& path) const { return group_.current_path(path); }
  /// Checks every staged file once more (an output model's external data included), then renames
  /// them all into place.
  void commit();

 private:
  struct File {
    std::string flag, path, what;  ///< `what` says what the file is, in messages
    bool model = false;            ///< the input model or its external data; -o or its external data
  };
  void check_output(const File& out, const std::vector<File>& earlier_outputs) const;

  std::vector<File> inputs_, outputs_;
  bool has_in_place_ = false, in_place_ = false;
  onnx_io::CommitGroup group_;
};

}  // namespace scalec::cli
