#pragma once
// Inputs that are not per-sample (DESIGN.md, "Data files"): `--batch 0` runs every array as given in
// one run; `--whole NAME` passes an array unsplit to every run; `--batch-axis NAME=K` splits an array
// along axis K (a recurrent state [dirs, N, H]) and, for infer, joins an output along axis K.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "onnx_io/data_files.h"

namespace CLI {
class App;
}

namespace scalec::cli {

/// --whole and --batch-axis as the command line gives them.
struct SplitOptions {
  std::vector<std::string> whole;       ///< --whole NAME (repeatable)
  std::vector<std::string> batch_axis;  ///< --batch-axis NAME=K (repeatable)
};

/// Registers --whole and --batch-axis on `cmd`; `outputs_too`: --batch-axis may name a model output
/// (infer: the axis its runs are joined along).
void add_split_options(CLI::App* cmd, SplitOptions& o, bool outputs_too = false);

/// The sample axes of `model`'s inputs (and outputs, with `outputs_too`) for `batch` (0: nothing is
/// split) and `o`. Error(kUsage) names a malformed NAME=K, an unknown NAME or an axis out of range.
onnx_io::SampleAxes sample_axes(const ir::Model& model, int64_t batch, const SplitOptions& o, bool outputs_too = false);

/// What the "arrays disagree on the number of samples" error adds for infer, eval and quantize.
std::string split_advice();

/// Positions [begin, end) of `t` along `axis` (the whole tensor when that is all of it).
ir::Tensor slice_axis(const ir::Tensor& t, int64_t axis, int64_t begin, int64_t end);

/// The [begin, end) sample ranges of the runs: batches of `batch` over `samples`, or one run of
/// everything (even of zero samples) when `axes` splits nothing.
std::vector<std::pair<int64_t, int64_t>> run_ranges(int64_t samples, int64_t batch, const onnx_io::SampleAxes& axes);

/// The axis output `name` counts samples on as the command line or the model says: --batch-axis
/// NAME=K, or the one axis whose symbolic dim ("N") a split input counts samples on; else -1.
int64_t declared_sample_axis(const ir::Model& model, const std::string& name, const onnx_io::SampleAxes& axes);

/// Joins one output's per-run parts (run i covered `rows[i]` samples) along its sample axis:
/// `declared_axis` when >= 0, else the one axis that follows the samples (axis 0 when several do and
/// no input counts samples elsewhere, `inputs_off_axis0`), else axis 0 when the parts differ only
/// there. Error(kBadInput) names --batch-axis and --batch 0 when the axis is ambiguous.
ir::Tensor join_runs(const std::vector<ir::Tensor>& parts, std::span<const int64_t> rows, const std::string& name,
                     int64_t declared_axis, bool inputs_off_axis0);

}  // namespace scalec::cli
