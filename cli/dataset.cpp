#include "cli/dataset.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "ir/error.h"
#include "ir/printable.h"
#include "onnx_io/npz_rows.h"
#include "onnx_io/data_files.h"

namespace scalec::cli {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<const ir::Value*> feed_inputs(const ir::Model& model) {
  std::vector<const ir::Value*> out;
  for (const ir::Value* v : model.graph->inputs) {
    if (!v->is_initializer()) out.push_back(v);
  }
  return out;
}

// Samples when nothing is split: the labels' count, else axis 0 of the first input that has one.
int64_t unsplit_samples(const kernels::NamedTensors& inputs, const std::optional<ir::Tensor>& labels) {
  if (labels) return labels->rank() == 0 ? 1 : labels->shape()[0];
  for (const auto& [name, t] : inputs) {
    if (t.rank() > 0) return t.shape()[0];
  }
  return 1;
}
}  // namespace

ir::Tensor pick_rows(const ir::Tensor& t, std::span<const int64_t> picked) {
  std::vector<int64_t> shape = t.shape();
  if (shape.empty()) return t;
  const int64_t row = t.numel() / std::max<int64_t>(1, shape[0]);
  const size_t row_bytes = ir::dtype_storage_bytes(t.dtype(), row);
  shape[0] = static_cast<int64_t>(picked.size());
  ir::Tensor out(t.dtype(), shape);
  std::byte* dst = out.mutable_bytes().data();
  for (size_t i = 0; i < picked.size(); ++i) {
    std::memcpy(dst + i * row_bytes, t.bytes().data() + static_cast<size_t>(picked[i]) * row_bytes, row_bytes);
  }
  return out;
}

kernels::NamedTensors pick_batch(const Dataset& data, std::span<const int64_t> picked) {
  if (data.stream) return data.stream->pick(picked);
  kernels::NamedTensors out;
  for (const auto& [name, t] : data.inputs) out.emplace_back(name, pick_rows(t, picked));
  return out;
}

Dataset load_dataset(const ir::Model& model, const std::string& path, const std::string& labels_key,
                     const onnx_io::SampleAxes& axes) {
  std::vector<onnx_io::NamedTensor> arrays;
  auto inputs = feed_inputs(model);
  if (ends_with(path, ".npy")) {
    if (inputs.size() != 1) {
      throw_bad_input("'{}': an .npy file holds one array but the model has {} inputs; use an .npz", path, inputs.size());
    }
    arrays.emplace_back(inputs[0]->name(), onnx_io::read_npy(path));
  } else {
    arrays = onnx_io::read_npz(path);
  }
  const int64_t shared = onnx_io::check_inputs_match(*model.graph, arrays, labels_key, path, axes);
  Dataset d;
  d.axes = axes;
  for (const ir::Value* v : inputs) {
    for (auto& [name, t] : arrays) {
      if (name == v->name()) d.inputs.emplace_back(name, t);
    }
  }
  for (auto& [name, t] : arrays) {
    if (name == labels_key) d.labels = t;
  }
  d.samples = axes.none_split ? unsplit_samples(d.inputs, d.labels) : shared < 0 ? 1 : shared;
  return d;
}

struct DataStream::Impl {
  std::optional<onnx_io::NpzRowReader> npz;  // .npz: rows on demand
  Dataset whole;                             // .npy: the mapped array; .npz: arrays not split on axis 0
  std::vector<std::string> inputs;
};

DataStream::DataStream(const ir::Model& model, const std::string& path, const std::string& labels_key,
                       const onnx_io::SampleAxes& axes) {
  auto impl = std::make_shared<Impl>();
  if (ends_with(path, ".npy")) {
    impl->whole = load_dataset(model, path, labels_key, axes);
    samples_ = impl->whole.samples;
  } else {
    onnx_io::NpzRowOptions ro;
    ro.load_unstreamable = true;
    impl->npz.emplace(path, ro);
    std::vector<onnx_io::ArrayInfo> infos;
    for (const onnx_io::NpzMember& m : impl->npz->members()) {
      infos.push_back({m.name, m.dtype, m.shape});
      if (!m.streamed) spdlog::warn("'{}': array '{}' is compressed, so it is read whole (np.savez streams)", path, m.name);
    }
    const int64_t shared = onnx_io::check_arrays_match(*model.graph, infos, labels_key, path, axes);
    impl->whole.axes = axes;
    for (const ir::Value* v : feed_inputs(model)) {
      impl->inputs.push_back(v->name());
      const onnx_io::NpzMember* m = impl->npz->find(v->name());
      // Arrays not split along axis 0 (whole, scalars, another sample axis) are small: read them once.
      if (axes.of(v->name(), m->shape.size()) != 0) impl->whole.inputs.emplace_back(v->name(), impl->npz->read_whole(v->name()));
    }
    if (axes.none_split) {
      const onnx_io::NpzMember* labels = impl->npz->find(labels_key);
      samples_ = shared >= 0 ? shared : 1;
      if (labels == nullptr) {
        const onnx_io::NpzMember* first = impl->inputs.empty() ? nullptr : impl->npz->find(impl->inputs[0]);
        samples_ = first == nullptr || first->shape.empty() ? 1 : first->shape[0];
      }
    } else {
      samples_ = shared < 0 ? 1 : shared;
    }
  }
  impl_ = std::move(impl);
}

DataStream::~DataStream() = default;

kernels::NamedTensors DataStream::batch(int64_t begin, int64_t end) const {
  const Dataset& whole = impl_->whole;
  if (!impl_->npz) return batch_of(whole, begin, end);
  kernels::NamedTensors out;
  for (const std::string& name : impl_->inputs) {
    auto held = std::find_if(whole.inputs.begin(), whole.inputs.end(), [&](const auto& p) { return p.first == name; });
    if (held == whole.inputs.end()) {
      out.emplace_back(name, impl_->npz->read_rows(name, begin, end));
      continue;
    }
    const int64_t axis = whole.axes.of(name, held->second.rank());
    out.emplace_back(name, axis == onnx_io::SampleAxes::kWhole ? held->second : slice_axis(held->second, axis, begin, end));
  }
  return out;
}

kernels::NamedTensors DataStream::pick(std::span<const int64_t> picked) const {
  const Dataset& whole = impl_->whole;
  if (!impl_->npz) return pick_batch(whole, picked);
  kernels::NamedTensors out;
  for (const std::string& name : impl_->inputs) {
    auto held = std::find_if(whole.inputs.begin(), whole.inputs.end(), [&](const auto& p) { return p.first == name; });
    if (held != whole.inputs.end()) {
      const int64_t axis = whole.axes.of(name, held->second.rank());
      if (axis == onnx_io::SampleAxes::kWhole) out.emplace_back(name, held->second);
      else if (axis == 0) out.emplace_back(name, pick_rows(held->second, picked));
      else throw_bad_input("input '{}' counts samples along axis {}; training picks samples along axis 0", name, axis);
      continue;
    }
    const onnx_io::NpzMember* m = impl_->npz->find(name);
    std::vector<int64_t> shape = m->shape;
    shape[0] = static_cast<int64_t>(picked.size());
    ir::Tensor t(m->dtype, shape);
    const size_t row_bytes = picked.empty() ? 0 : t.storage_bytes() / picked.size();
    std::byte* dst = t.mutable_bytes().data();
    for (size_t i = 0; i < picked.size();) {
      size_t j = i + 1;  // a run of consecutive rows: one read
      while (j < picked.size() && picked[j] == picked[j - 1] + 1) ++j;
      const ir::Tensor run = impl_->npz->read_rows(name, picked[i], picked[j - 1] + 1);
      std::memcpy(dst + i * row_bytes, run.bytes().data(), (j - i) * row_bytes);
      i = j;
    }
    out.emplace_back(name, std::move(t));
  }
  return out;
}

std::optional<ir::Tensor> DataStream::read_whole(const std::string& name) const {
  if (!impl_->npz) return impl_->whole.labels;  // .npy: one array, no labels
  if (!impl_->npz->find(name)) return std::nullopt;
  return impl_->npz->read_whole(name);
}

Dataset load_streamed_dataset(const ir::Model& model, const std::string& path, const std::string& labels_key,
                              const onnx_io::SampleAxes& axes) {
  if (ends_with(path, ".npy")) return load_dataset(model, path, labels_key, axes);  // mapped, not read
  auto stream = std::make_shared<const DataStream>(model, path, labels_key, axes);
  Dataset d;
  d.axes = axes;
  d.samples = stream->samples();
  d.labels = stream->read_whole(labels_key);
  d.stream = std::move(stream);
  return d;
}

void DataStream::verify() const {
  if (impl_->npz) impl_->npz->verify();
}

kernels::NamedTensors batch_of(const Dataset& data, int64_t begin, int64_t end) {
  if (data.stream) return data.stream->batch(begin, end);
  kernels::NamedTensors out;
  for (const auto& [name, t] : data.inputs) {
    const int64_t axis = data.axes.of(name, t.rank());
    out.emplace_back(name, axis == onnx_io::SampleAxes::kWhole ? t : slice_axis(t, axis, begin, end));
  }
  return out;
}

int64_t batch_size_for(const ir::Model& model, int64_t requested, int64_t samples, const onnx_io::SampleAxes& axes) {
  if (axes.none_split) return std::max<int64_t>(1, samples);
  for (const ir::Value* v : feed_inputs(model)) {
    if (!v->type || !v->type->shape) continue;
    const auto& dims = *v->type->shape;
    const int64_t axis = axes.of(v->name(), dims.size());
    if (axis != onnx_io::SampleAxes::kWhole && axis < static_cast<int64_t>(dims.size()) &&
        dims[static_cast<size_t>(axis)].value) {
      const int64_t fixed = *dims[static_cast<size_t>(axis)].value;  // the model fixes its batch size
      if (fixed <= 0) {  // batches of 0 samples would never advance (a hang) and divide by zero
        throw_bad_input("model input '{}' declares {} samples on axis {} ({}), so no batch of data can feed it",
                        ir::printable(v->name()), fixed, axis, ir::type_to_string(*v->type));
      }
      return fixed;
    }
  }
  return requested > 0 ? std::min(requested, std::max<int64_t>(1, samples)) : std::max<int64_t>(1, samples);
}

size_t peak_rss_bytes() {
  // VmHWM is this program's own peak; getrusage's ru_maxrss survives exec, so a process started
  // from a large parent (a Python test holding arrays) would report the parent's size.
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    size_t kb = 0;
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
    }
    std::fclose(f);
    if (kb > 0) return kb * 1024;
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<size_t>(u.ru_maxrss) * 1024;
}

}  // namespace scalec::cli
