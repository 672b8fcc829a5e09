#include "cli/model_compare.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "ir/error.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {

// One pair of elements into the sums (doubles: float sums over millions of elements drift).
inline void accumulate(Sqnr& s, double r, double t) {
  if (std::isfinite(r) && std::isfinite(t)) {
    const double d = r - t;
    s.signal += r * r;
    s.noise += d * d;
  } else if (!(r == t || (std::isnan(r) && std::isnan(t)))) {
    ++s.nonfinite_mismatches;
  }
}

}  // namespace

bool comparable_float(ir::DType t) {
  return t == ir::DType::kFloat || t == ir::DType::kDouble || t == ir::DType::kFloat16 || t == ir::DType::kBFloat16;
}

void Sqnr::add(const ir::Tensor& ref, const ir::Tensor& test) {
  const int64_t n = ref.numel();
  if (test.numel() != n) throw_internal("SQNR of tensors of {} and {} elements", n, test.numel());
  if (ref.dtype() == ir::DType::kFloat && test.dtype() == ir::DType::kFloat) {
    const auto r = ref.values<float>();
    const auto t = test.values<float>();
    for (int64_t i = 0; i < n; ++i) accumulate(*this, r[static_cast<size_t>(i)], t[static_cast<size_t>(i)]);
  } else {
    for (int64_t i = 0; i < n; ++i) accumulate(*this, ref.element_as_double(i), test.element_as_double(i));
  }
  elements += n;
}

double Sqnr::db() const {
  if (identical()) return std::numeric_limits<double>::infinity();
  if (noise == 0) return -999;  // only non-finite mismatches: nothing finite to set against them
  return std::max(-999.0, 10 * std::log10(signal / noise));
}

std::string Sqnr::text() const {
  std::string s = identical() ? "inf" : fmt::format("{:.2f} dB", db());
  if (nonfinite_mismatches > 0) s += fmt::format(" ({} non-finite mismatches)", nonfinite_mismatches);
  return s;
}

nlohmann::json Sqnr::json() const { return identical() ? nlohmann::json(nullptr) : nlohmann::json(db()); }

std::vector<int64_t> argmax_axis1(const ir::Tensor& scores) {
  const auto& s = scores.shape();
  if (s.size() < 2) throw_internal("argmax over axis 1 of a tensor of rank {}", s.size());
  const int64_t n = s[0], classes = s[1], inner = classes == 0 ? 0 : scores.numel() / std::max<int64_t>(1, n * classes);
  std::vector<int64_t> out(static_cast<size_t>(n * inner), 0);
  const bool f32 = scores.dtype() == ir::DType::kFloat;
  const float* p = f32 ? scores.values<float>().data() : nullptr;
  auto at = [&](int64_t i) { return f32 ? static_cast<double>(p[i]) : scores.element_as_double(i); };
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < inner; ++k) {
      int64_t best = 0;
      double best_v = at(b * classes * inner + k);
      for (int64_t c = 1; c < classes; ++c) {
        const double v = at((b * classes + c) * inner + k);
        if (v > best_v) {  // NaN never wins
          best = c;
          best_v = v;
        }
      }
      out[static_cast<size_t>(b * inner + k)] = best;
    }
  }
  return out;
}

int64_t top1_correct(const ir::Tensor& scores, const ir::Tensor& labels, int64_t first_row) {
  const int64_t n = scores.shape()[0], classes = scores.shape()[1];
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double label_value = labels.element_as_double(first_row + i);
    if (!(label_value >= 0 && label_value < static_cast<double>(classes))) {
      throw_bad_input("label {} of sample {} is outside the model's {} classes", label_value, first_row + i, classes);
    }
    const auto label = static_cast<int64_t>(label_value);
    const double mine = scores.element_as_double(i * classes + label);
    bool higher = false;
    for (int64_t c = 0; c < classes && !higher; ++c) higher = scores.element_as_double(i * classes + c) > mine;
    correct += !higher;
  }
  return correct;
}

void MeanIou::add(std::span<const int64_t> a, std::span<const int64_t> b, int64_t classes) {
  if (intersection.size() < static_cast<size_t>(classes)) {
    intersection.resize(static_cast<size_t>(classes), 0);
    union_.resize(static_cast<size_t>(classes), 0);
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const auto ca = static_cast<size_t>(a[i]), cb = static_cast<size_t>(b[i]);
    if (ca == cb) {
      ++intersection[ca];
      ++union_[ca];
    } else {
      ++union_[ca];
      ++union_[cb];
    }
  }
}

double MeanIou::mean() const {
  double sum = 0;
  int64_t present = 0;
  for (size_t c = 0; c < union_.size(); ++c) {
    if (union_[c] == 0) continue;
    sum += static_cast<double>(intersection[c]) / static_cast<double>(union_[c]);
    ++present;
  }
  return present == 0 ? 1.0 : sum / static_cast<double>(present);
}

int64_t model_bytes_on_disk(const ir::Model& model, const std::string& path) {
  std::error_code ec;
  auto size = [&](const std::string& p) {
    const auto n = std::filesystem::file_size(p, ec);
    return ec ? int64_t{0} : static_cast<int64_t>(n);
  };
  int64_t bytes = size(path);
  for (const std::string& f : onnx_io::external_data_files(model)) bytes += size(f);
  return bytes;
}

int64_t output_index(const ir::Model& model, const std::string& name) {
  const auto& outs = model.graph->outputs;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (outs[i]->name() == name) return static_cast<int64_t>(i);
  }
  return -1;
}

std::string output_names(const ir::Model& model) {
  std::string names;
  for (const ir::Value* v : model.graph->outputs) names += (names.empty() ? "'" : ", '") + v->name() + "'";
  return names;
}

}  // namespace scalec::cli
