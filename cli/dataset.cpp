#include "cli/dataset.h"

#include <sys/resource.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "ir/error.h"
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

ir::Tensor rows(const ir::Tensor& t, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = t.shape();
  int64_t row = t.numel() / std::max<int64_t>(1, shape[0]);
  size_t row_bytes = ir::dtype_storage_bytes(t.dtype(), row);
  shape[0] = end - begin;
  ir::Tensor out(t.dtype(), shape);
  if (!out.mutable_bytes().empty()) {
    std::memcpy(out.mutable_bytes().data(), t.bytes().data() + static_cast<size_t>(begin) * row_bytes,
                static_cast<size_t>(end - begin) * row_bytes);
  }
  return out;
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
  kernels::NamedTensors out;
  for (const auto& [name, t] : data.inputs) out.emplace_back(name, pick_rows(t, picked));
  return out;
}

Dataset load_dataset(const ir::Model& model, const std::string& path, const std::string& labels_key) {
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
  onnx_io::check_inputs_match(*model.graph, arrays, labels_key, path);
  Dataset d;
  for (const ir::Value* v : inputs) {
    for (auto& [name, t] : arrays) {
      if (name == v->name()) d.inputs.emplace_back(name, t);
    }
  }
  for (auto& [name, t] : arrays) {
    if (name == labels_key) d.labels = t;
  }
  d.samples = d.inputs.empty() || d.inputs[0].second.rank() == 0 ? 1 : d.inputs[0].second.shape()[0];
  return d;
}

struct DataStream::Impl {
  std::optional<onnx_io::NpzRowReader> npz;  // .npz: rows on demand
  Dataset whole;                             // .npy: the mapped array
  std::vector<std::string> inputs;
};

DataStream::DataStream(const ir::Model& model, const std::string& path, const std::string& labels_key) {
  auto impl = std::make_shared<Impl>();
  if (ends_with(path, ".npy")) {
    impl->whole = load_dataset(model, path, labels_key);
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
    onnx_io::check_arrays_match(*model.graph, infos, labels_key, path);
    for (const ir::Value* v : feed_inputs(model)) impl->inputs.push_back(v->name());
    const onnx_io::NpzMember* first = impl->inputs.empty() ? nullptr : impl->npz->find(impl->inputs[0]);
    samples_ = first == nullptr || first->shape.empty() ? 1 : first->shape[0];
  }
  impl_ = std::move(impl);
}

DataStream::~DataStream() = default;

kernels::NamedTensors DataStream::batch(int64_t begin, int64_t end) const {
  if (!impl_->npz) return batch_of(impl_->whole, begin, end);
  kernels::NamedTensors out;
  for (const std::string& name : impl_->inputs) {
    out.emplace_back(name, impl_->npz->read_rows(name, begin, end));
  }
  return out;
}

kernels::NamedTensors batch_of(const Dataset& data, int64_t begin, int64_t end) {
  kernels::NamedTensors out;
  for (const auto& [name, t] : data.inputs) {
    if (t.rank() == 0 || (begin == 0 && end == t.shape()[0])) out.emplace_back(name, t);
    else out.emplace_back(name, rows(t, begin, end));
  }
  return out;
}

int64_t batch_size_for(const ir::Model& model, int64_t requested, int64_t samples) {
  for (const ir::Value* v : feed_inputs(model)) {
    if (v->type && v->type->shape && !v->type->shape->empty() && (*v->type->shape)[0].value) {
      return *(*v->type->shape)[0].value;  // the model fixes its batch size
    }
  }
  return requested > 0 ? std::min(requested, std::max<int64_t>(1, samples)) : std::max<int64_t>(1, samples);
}

ir::Tensor concat_rows(const std::vector<ir::Tensor>& parts, const std::string& name) {
  if (parts.size() == 1) return parts[0];
  std::vector<int64_t> shape = parts[0].shape();
  if (shape.empty()) throw_bad_input("output '{}' is a scalar; it cannot be split into batches (use --batch 0)", name);
  int64_t total = 0;
  for (const auto& p : parts) {
    std::vector<int64_t> a(p.shape().begin() + 1, p.shape().end()), b(shape.begin() + 1, shape.end());
    if (p.dtype() != parts[0].dtype() || p.rank() != parts[0].rank() || a != b) {
      throw_bad_input("output '{}' changes shape between batches; run with --batch 0", name);
    }
    total += p.shape()[0];
  }
  shape[0] = total;
  ir::Tensor out(parts[0].dtype(), shape);
  size_t offset = 0;
  for (const auto& p : parts) {
    std::memcpy(out.mutable_bytes().data() + offset, p.bytes().data(), p.bytes().size());
    offset += p.bytes().size();
  }
  return out;
}

size_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<size_t>(u.ru_maxrss) * 1024;
}

}  // namespace scalec::cli
