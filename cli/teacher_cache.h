#pragma once
// --cache-teacher DIR: the teacher's logits on every training sample, computed once and reused by
// later epochs and runs. DIR/teacher_logits.f32 holds them (raw little-endian float32, [samples,
// classes], all logits: k = classes), DIR/teacher_logits.json what they were made from.
#include <string>

#include "cli/dataset.h"
#include "ir/graph.h"

namespace scalec::cli {

/// The teacher's logits [samples, classes] on `data` (read from `data_path`): from DIR when its
/// header names this teacher file and data file (by content hash), else computed and stored there.
/// A cache made from another teacher, other data or another output is refused (Error kBadInput naming which).
ir::Tensor cached_teacher_logits(const std::string& dir, const std::string& teacher_path, const ir::Model& teacher,
                                 const std::string& data_path, const Dataset& data, const std::string& output,
                                 int threads);

}  // namespace scalec::cli
