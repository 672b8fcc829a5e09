#pragma once
// --cache-teacher DIR: the teacher's logits on every training sample, computed once and reused by
// later epochs and runs. DIR/teacher_logits.f32 holds the k largest per sample (raw little-endian
// float32, [samples, k]), DIR/teacher_indices.i32 their classes (int32 [samples, k]; absent when
// k = classes), DIR/teacher_logits.json what they were made from.
#include <cstdint>
#include <span>
#include <string>

#include "cli/dataset.h"
#include "ir/graph.h"

namespace scalec::cli {

/// The stored logits; rows() rebuilds them dense for the distillation loss.
class TeacherCache {
 public:
  TeacherCache(ir::Tensor values, ir::Tensor indices, int64_t classes)
      : values_(std::move(values)), indices_(std::move(indices)), classes_(classes) {}
  /// Logits [rows, classes] of the samples `rows`. With top-k, the classes not kept read as a large
  /// negative number: the teacher's distribution is renormalized over its k most likely classes.
  ir::Tensor rows(std::span<const int64_t> rows) const;
  int64_t k() const { return values_.shape()[1]; }
  int64_t classes() const { return classes_; }

 private:
  ir::Tensor values_;   // float [samples, k]
  ir::Tensor indices_;  // int32 [samples, k], or empty when k = classes
  int64_t classes_;
};

/// The default --cache-top-k: every logit up to 1000 classes, else 64.
int64_t default_cache_top_k(int64_t classes);

/// The teacher's logits on `data` (read from `data_path`): from DIR when its header names this
/// teacher file, data file (by content hash), output and k, else computed and stored there.
/// `top_k` <= 0 takes the default. A cache made from another teacher, other data, another output or
/// another k is refused (Error kBadInput naming which).
TeacherCache cached_teacher_logits(const std::string& dir, const std::string& teacher_path, const ir::Model& teacher,
                                   const std::string& data_path, const Dataset& data, const std::string& output,
                                   int64_t top_k, int threads);

}  // namespace scalec::cli
