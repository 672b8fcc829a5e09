#pragma once
// The sklearn digits split of test_models/ as tensors, and row cutting, for the training tests.
#include <cstring>
#include <numeric>
#include <span>
#include <string>

#include "distill/trainer.h"
#include "onnx_io/data_files.h"
#include "support/test_support.h"

namespace scalec::test {

/// Inputs [N, 1, 8, 8] float and labels [N] int64 of one digits file.
struct Digits {
  ir::Tensor x, y;
};

inline Digits digits(const std::string& file = "digits_train.npz") {
  Digits d;
  for (auto& [k, t] : onnx_io::read_npz((source_dir() / "test_models" / file).string())) {
    if (k == "input") d.x = t;
    if (k == "labels") d.y = t;
  }
  return d;
}

/// The rows `picked` (in that order) of a float or int64 tensor.
inline ir::Tensor rows(const ir::Tensor& t, std::span<const int64_t> picked) {
  std::vector<int64_t> shape = t.shape();
  const size_t row = t.storage_bytes() / static_cast<size_t>(shape[0]);
  shape[0] = static_cast<int64_t>(picked.size());
  ir::Tensor out(t.dtype(), shape);
  for (size_t i = 0; i < picked.size(); ++i) {
    std::memcpy(out.mutable_bytes().data() + i * row, t.bytes().data() + static_cast<size_t>(picked[i]) * row, row);
  }
  return out;
}

/// Rows [begin, end).
inline ir::Tensor rows(const ir::Tensor& t, int64_t begin, int64_t end) {
  std::vector<int64_t> picked(static_cast<size_t>(end - begin));
  std::iota(picked.begin(), picked.end(), begin);
  return rows(t, picked);
}

/// The whole file as Trainer data (`d` must outlive the result).
inline distill::TrainingData training_data(const Digits& d) {
  return {d.x.shape()[0], [&d](std::span<const int64_t> r) { return kernels::NamedTensors{{"input", rows(d.x, r)}}; },
          [&d](std::span<const int64_t> r) { return rows(d.y, r); }, {}};
}

}  // namespace scalec::test
