#include "cli/sample_axes.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <CLI/CLI.hpp>

#include "ir/error.h"

namespace scalec::cli {

namespace {

using onnx_io::SampleAxes;

std::string quoted(const std::vector<const ir::Value*>& values) {
  std::string out;
  for (const ir::Value* v : values) out += fmt::format("{}'{}'", out.empty() ? "" : ", ", v->name());
  return out.empty() ? "none" : out;
}

const ir::Value* find(const std::vector<const ir::Value*>& values, const std::string& name) {
  for (const ir::Value* v : values) {
    if (v->name() == name) return v;
  }
  return nullptr;
}

// Bytes of `elems` elements; refuses a split of sub-byte types (int4) that would cut a byte.
size_t span_bytes(const ir::Tensor& t, int64_t elems, const std::string& name) {
  if ((static_cast<int64_t>(ir::dtype_bits(t.dtype())) * elems) % 8 != 0) {
    throw_bad_input("'{}' is {} {}: splitting it into samples would cut a byte; pass it whole (--whole) or use --batch 0",
                    name, ir::dtype_name(t.dtype()), ir::shape_to_string(t.shape()));
  }
  return ir::dtype_storage_bytes(t.dtype(), elems);
}

int64_t product(const std::vector<int64_t>& shape, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= shape[i];
  return n;
}

}  // namespace

void add_split_options(CLI::App* cmd, SplitOptions& o, bool outputs_too) {
  cmd->add_option("--whole", o.whole,
                  "Pass input NAME unsplit to every batch (a scalar, a shared mask; repeatable; default: split along axis 0)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  cmd->add_option("--batch-axis", o.batch_axis,
                  outputs_too ? "Split input NAME along axis K instead of 0 (a state [dirs, N, H]: h0=1), or join output "
                                "NAME's batches along K (NAME=K, repeatable; default: axis 0, or the one axis that follows the samples)"
                              : "Split input NAME along axis K instead of 0 (a state [dirs, N, H]: h0=1; NAME=K, repeatable; "
                                "default: axis 0)")
      ->type_name("NAME=K")
      ->allow_extra_args(false);
}

std::string split_advice() {
  return "; an array that holds no samples goes whole to every batch with --whole NAME, one that counts them on "
         "another axis is split with --batch-axis NAME=K, and --batch 0 runs all arrays exactly as given";
}

SampleAxes sample_axes(const ir::Model& model, int64_t batch, const SplitOptions& o, bool outputs_too) {
  std::vector<const ir::Value*> inputs, outputs(model.graph->outputs.begin(), model.graph->outputs.end());
  for (const ir::Value* v : model.graph->inputs) {
    if (!v->is_initializer()) inputs.push_back(v);
  }
  SampleAxes a;
  a.none_split = batch == 0;
  a.advice = split_advice();
  for (const std::string& name : o.whole) {
    if (find(inputs, name) == nullptr) {
      throw Error(ExitCode::kUsage,
                  fmt::format("--whole '{}' is not an input of the model (its inputs: {})", name, quoted(inputs)));
    }
    a.axes[name] = SampleAxes::kWhole;
  }
  for (const std::string& spec : o.batch_axis) {
    const size_t eq = spec.rfind('=');
    int64_t k = -1;
    const char* end = spec.data() + spec.size();
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size() ||
        std::from_chars(spec.data() + eq + 1, end, k).ptr != end || k < 0) {
      throw Error(ExitCode::kUsage, fmt::format("--batch-axis '{}': expected NAME=K, an input name and the axis "
                                                "(0 or more) that counts its samples, e.g. h0=1", spec));
    }
    const std::string name = spec.substr(0, eq);
    const ir::Value* v = find(inputs, name);
    const char* kind = "input";
    if (v == nullptr && outputs_too && (v = find(outputs, name)) != nullptr) kind = "output";
    if (v == nullptr) {
      throw Error(ExitCode::kUsage, fmt::format("--batch-axis {}: '{}' is not an input{} of the model (its inputs: {})",
                                                spec, name, outputs_too ? " or output" : "", quoted(inputs)));
    }
    if (auto it = a.axes.find(name); it != a.axes.end() && it->second != k) {
      throw Error(ExitCode::kUsage, it->second == SampleAxes::kWhole
                                        ? fmt::format("--whole and --batch-axis both name '{}'", name)
                                        : fmt::format("--batch-axis names '{}' twice, with axes {} and {}", name,
                                                      it->second, k));
    }
    if (v->type && v->type->shape && k >= static_cast<int64_t>(v->type->shape->size())) {
      const size_t rank = v->type->shape->size();
      throw Error(ExitCode::kUsage,
                  rank == 0 ? fmt::format("--batch-axis {}: the model's {} '{}' is a scalar; it has no axis to split",
                                          spec, kind, name)
                            : fmt::format("--batch-axis {}: the model's {} '{}' has rank {}, so K is 0 to {}", spec,
                                          kind, name, rank, rank - 1));
    }
    a.axes[name] = k;
  }
  return a;
}

ir::Tensor slice_axis(const ir::Tensor& t, int64_t axis, int64_t begin, int64_t end) {
  const std::vector<int64_t>& shape = t.shape();
  const auto ax = static_cast<size_t>(axis);
  if (begin == 0 && end == shape[ax]) return t;
  const int64_t outer = product(shape, 0, ax), inner = product(shape, ax + 1, shape.size());
  const size_t inner_bytes = span_bytes(t, inner, "an array");
  std::vector<int64_t> out_shape = shape;
  out_shape[ax] = end - begin;
  ir::Tensor out(t.dtype(), out_shape);
  const size_t n = static_cast<size_t>(end - begin) * inner_bytes;
  if (n == 0) return out;
  std::byte* dst = out.mutable_bytes().data();
  const std::byte* src = t.bytes().data();
  for (int64_t o = 0; o < outer; ++o) {
    std::memcpy(dst + static_cast<size_t>(o) * n,
                src + (static_cast<size_t>(o * shape[ax] + begin)) * inner_bytes, n);
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> run_ranges(int64_t samples, int64_t batch, const SampleAxes& axes) {
  if (axes.none_split) return {{0, samples}};
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t b = 0; b < samples; b += batch) out.emplace_back(b, std::min(samples, b + batch));
  return out;
}

int64_t declared_sample_axis(const ir::Model& model, const std::string& name, const SampleAxes& axes) {
  if (auto it = axes.axes.find(name); it != axes.axes.end() && it->second >= 0) return it->second;
  std::vector<std::string> symbols;  // the symbolic dims split inputs count samples on ("N", "batch")
  for (const ir::Value* v : model.graph->inputs) {
    if (v->is_initializer() || !v->type || !v->type->shape) continue;
    const auto& dims = *v->type->shape;
    const int64_t axis = axes.of(v->name(), dims.size());
    if (axis >= 0 && axis < static_cast<int64_t>(dims.size()) && !dims[static_cast<size_t>(axis)].param.empty()) {
      symbols.push_back(dims[static_cast<size_t>(axis)].param);
    }
  }
  int64_t found = -1;
  for (const ir::Value* v : model.graph->outputs) {
    if (v->name() != name || !v->type || !v->type->shape) continue;
    const auto& dims = *v->type->shape;
    for (size_t k = 0; k < dims.size(); ++k) {
      if (dims[k].param.empty() || std::find(symbols.begin(), symbols.end(), dims[k].param) == symbols.end()) continue;
      if (found >= 0) return -1;  // two axes carry a sample symbol: the data decides
      found = static_cast<int64_t>(k);
    }
  }
  return found;
}

ir::Tensor join_runs(const std::vector<ir::Tensor>& parts, std::span<const int64_t> rows, const std::string& name,
                     int64_t declared_axis, bool inputs_off_axis0) {
  if (parts.size() == 1) return parts[0];
  const ir::Tensor& first = parts.front();
  const size_t rank = first.shape().size();
  const std::string shapes = fmt::format("{} in the first batch and {} in the last", ir::shape_to_string(first.shape()),
                                         ir::shape_to_string(parts.back().shape()));
  if (rank == 0) {
    throw_bad_input("output '{}' is a scalar in each batch, so the batches cannot be joined; run all samples at once "
                    "with --batch 0", name);
  }
  auto same_except = [&](size_t axis) {
    for (const ir::Tensor& p : parts) {
      if (p.dtype() != first.dtype() || p.shape().size() != rank) return false;
      for (size_t k = 0; k < rank; ++k) {
        if (k != axis && p.shape()[k] != first.shape()[k]) return false;
      }
    }
    return true;
  };
  auto follows = [&](size_t axis) {
    if (!same_except(axis)) return false;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].shape()[axis] != rows[i]) return false;
    }
    return true;
  };
  size_t axis = 0;
  if (declared_axis >= 0) {
    axis = static_cast<size_t>(declared_axis);
    if (declared_axis >= static_cast<int64_t>(rank) || !same_except(axis)) {
      throw_bad_input("output '{}' is {}: its batches cannot be joined along axis {} (--batch-axis {}={})", name, shapes,
                      axis, name, axis);
    }
  } else {
    std::vector<size_t> candidates;
    for (size_t k = 0; k < rank; ++k) {
      if (follows(k)) candidates.push_back(k);
    }
    if (candidates.size() == 1) {
      axis = candidates[0];
    } else if (!candidates.empty() && candidates[0] == 0 && !inputs_off_axis0) {
      axis = 0;  // every input counts samples on axis 0: so do the outputs that can
    } else if (!candidates.empty() || !same_except(0)) {
      // Several axes follow the samples, or none does and the batches differ beyond axis 0.
      throw_bad_input("output '{}' is {}, so scalec cannot tell which axis counts samples; name it with --batch-axis "
                      "{}=K, or run all samples at once with --batch 0", name, shapes, name);
    }  // else: axis 0 grows with the samples in another proportion (flattened rows): joined there as before
  }
  const std::vector<int64_t>& shape = first.shape();
  const int64_t outer = product(shape, 0, axis), inner = product(shape, axis + 1, rank);
  const size_t inner_bytes = span_bytes(first, inner, fmt::format("output '{}'", name));
  std::vector<int64_t> out_shape = shape;
  out_shape[axis] = 0;
  for (const ir::Tensor& p : parts) out_shape[axis] += p.shape()[axis];
  ir::Tensor out(first.dtype(), out_shape);
  std::byte* dst = out.mutable_bytes().data();
  for (int64_t o = 0; o < outer; ++o) {
    for (const ir::Tensor& p : parts) {
      const size_t n = static_cast<size_t>(p.shape()[axis]) * inner_bytes;
      if (n == 0) continue;
      std::memcpy(dst, p.bytes().data() + static_cast<size_t>(o) * n, n);
      dst += n;
    }
  }
  return out;
}

}  // namespace scalec::cli
