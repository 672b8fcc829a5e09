#pragma once
// --init-from-teacher: a student that shares layers with its teacher (a channel-pruned teacher, or a
// model with one layer changed) starts from the teacher's weights wherever names and shapes match.
#include <cstdint>

#include "ir/graph.h"

namespace scalec::distill {

/// What copy_matching_weights copied.
struct WeightCopy {
  int64_t tensors = 0, elements = 0;  ///< copied from the teacher
  int64_t float_tensors = 0;          ///< the student's float initializers, copied or not
};

/// Copies into `student` every float initializer of `teacher` with the same name, dtype and shape.
WeightCopy copy_matching_weights(ir::Model& student, const ir::Model& teacher);

}  // namespace scalec::distill
