// check_inputs_match: do a data file's arrays fit the model's inputs (DESIGN.md, "Data files")?
#include <algorithm>

#include "ir/error.h"
#include "onnx_io/data_files.h"

namespace scalec::onnx_io {

using ir::DType;

namespace {

std::string quoted_list(const std::vector<std::string>& names) {
  if (names.empty()) return "no arrays";
  std::string out;
  for (const auto& n : names) out += fmt::format("{}'{}'", out.empty() ? "" : ", ", n);
  return out;
}

bool is_integer(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kInt16: case DType::kInt32: case DType::kInt64:
    case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: case DType::kUInt64: return true;
    default: return false;
  }
}

std::string describe(const ArrayInfo& a) { return numpy_dtype_name(a.dtype) + ir::shape_to_string(a.shape); }

// Dtype, rank and the fixed dims except the sample axis `sample_axis` (every dim when kWhole;
// symbolic dims take any size).
void check_one(const ir::Value& input, const ArrayInfo& a, const std::string& file, int64_t sample_axis) {
  if (!input.type) return;  // the model records no type: nothing to check against
  const ir::TypeInfo& type = *input.type;
  const std::string& name = input.name();
  if (type.kind != ir::TypeInfo::Kind::kTensor) {
    throw_bad_input("'{}': the model's input '{}' is not a tensor, so no array can feed it", file, name);
  }
  if (type.elem_type != 0 && a.dtype != type.dtype()) {
    throw_bad_input("'{}': array '{}' is {} but the model's input '{}' is {} (no silent casts: convert the array)",
                    file, name, numpy_dtype_name(a.dtype), name, ir::dtype_name(type.dtype()));
  }
  if (!type.shape) return;
  const auto& dims = *type.shape;
  if (static_cast<int64_t>(dims.size()) != static_cast<int64_t>(a.shape.size())) {
    throw_bad_input("'{}': array '{}' is {} (rank {}) but the model's input '{}' is {} (rank {})", file, name,
                    describe(a), static_cast<int64_t>(a.shape.size()), name, ir::type_to_string(type), dims.size());
  }
  for (size_t k = 0; k < dims.size(); ++k) {
    if (static_cast<int64_t>(k) == sample_axis) continue;
    if (dims[k].value && *dims[k].value != a.shape[k]) {
      throw_bad_input("'{}': array '{}' is {} but the model's input '{}' is {}: axis {} must be {}, not {}{}", file,
                      name, describe(a), name, ir::type_to_string(type), k, *dims[k].value, a.shape[k],
                      k == 0 ? " (the array is not split along axis 0, so it must fit as a whole)" : "");
    }
  }
}

}  // namespace

int64_t SampleAxes::of(const std::string& name, size_t rank) const {
  if (none_split || rank == 0) return kWhole;
  auto it = axes.find(name);
  return it == axes.end() ? 0 : it->second;
}

int64_t check_inputs_match(const ir::Graph& graph, const std::vector<NamedTensor>& arrays,
                           const std::string& labels_key, const std::string& file, const SampleAxes& axes) {
  std::vector<ArrayInfo> infos;
  for (const auto& [n, t] : arrays) infos.push_back({n, t.dtype(), t.shape()});
  return check_arrays_match(graph, infos, labels_key, file, axes);
}

int64_t check_arrays_match(const ir::Graph& graph, const std::vector<ArrayInfo>& arrays, const std::string& labels_key,
                           const std::string& file, const SampleAxes& axes) {
  auto find = [&](const std::string& name) -> const ArrayInfo* {
    for (const ArrayInfo& a : arrays) {
      if (a.name == name) return &a;
    }
    return nullptr;
  };
  std::vector<const ir::Value*> inputs;
  std::vector<std::string> input_names, missing, extra, array_names;
  for (const ir::Value* v : graph.inputs) {
    if (v->is_initializer()) continue;
    inputs.push_back(v);
    input_names.push_back(v->name());
    if (find(v->name()) == nullptr) missing.push_back(v->name());
  }
  for (const ArrayInfo& arr : arrays) {
    const std::string& n = arr.name;
    array_names.push_back(n);
    bool is_input = std::find(input_names.begin(), input_names.end(), n) != input_names.end();
    if (!is_input && n != labels_key) extra.push_back(n);
  }
  if (!missing.empty()) {
    throw_bad_input("'{}' has no array for the model's input{} {}; the file has {}", file,
                    missing.size() > 1 ? "s" : "", quoted_list(missing), quoted_list(array_names));
  }
  if (!extra.empty()) {
    throw_bad_input("'{}': {} {} neither a model input ({}) nor the labels ('{}')", file, quoted_list(extra),
                    extra.size() > 1 ? "are" : "is", quoted_list(input_names), labels_key);
  }
  // Every array that is split into samples: (name, count, axis); the labels count on axis 0.
  struct Count {
    std::string name;
    int64_t samples, axis;
  };
  std::vector<Count> samples;
  for (const ir::Value* v : inputs) {
    const ArrayInfo& a = *find(v->name());
    const int64_t axis = axes.of(v->name(), a.shape.size());
    if (axis != SampleAxes::kWhole && (axis < 0 || axis >= static_cast<int64_t>(a.shape.size()))) {
      throw_bad_input("'{}': array '{}' is {} (rank {}): it has no axis {} to split samples along", file, v->name(),
                      describe(a), a.shape.size(), axis);
    }
    check_one(*v, a, file, axis);
    if (axis != SampleAxes::kWhole) samples.push_back({v->name(), a.shape[static_cast<size_t>(axis)], axis});
  }
  bool labels_are_input = std::find(input_names.begin(), input_names.end(), labels_key) != input_names.end();
  if (const ArrayInfo* labels = find(labels_key); labels != nullptr && !labels_are_input) {
    if (!is_integer(labels->dtype) || labels->shape.size() != 1) {
      throw_bad_input("'{}': labels '{}' must be an integer array of shape [N] (class indices), found {}", file,
                      labels_key, describe(*labels));
    }
    samples.push_back({labels_key, labels->shape[0], 0});
  }
  if (axes.none_split) return samples.empty() || samples.back().name != labels_key ? -1 : samples.back().samples;
  for (const Count& c : samples) {
    const Count& f = samples.front();
    if (c.samples == f.samples) continue;
    if (f.axis == 0 && c.axis == 0) {
      throw_bad_input("'{}': arrays disagree on the number of samples (axis 0): '{}' has {}, '{}' has {}{}", file,
                      f.name, f.samples, c.name, c.samples, axes.advice);
    }
    throw_bad_input("'{}': arrays disagree on the number of samples: '{}' has {} (axis {}), '{}' has {} (axis {}){}",
                    file, f.name, f.samples, f.axis, c.name, c.samples, c.axis, axes.advice);
  }
  return samples.empty() ? -1 : samples.front().samples;
}

}  // namespace scalec::onnx_io
