#pragma once
// Feature hints for distillation (FitNets, Romero et al. 2015): a loss between an intermediate value
// of the teacher and one of the student. Where their widths differ, a learned projection of the
// student's value (1x1 Conv for [N, C, H, W], a linear map over the last axis for [N, D] and
// [N, L, D]) is added to the student graph for training and removed before the model is written.
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/exec/executor.h"

namespace scalec::distill {

/// One --hint TEACHER_VALUE=STUDENT_VALUE.
struct HintSpec {
  std::string teacher, student;
};

/// Parses "TEACHER_VALUE=STUDENT_VALUE" (split at the first '='); Error(kUsage) when malformed.
HintSpec parse_hint(const std::string& text);

/// A hint attached to the student graph: `student_output` is the graph output the hint loss reads
/// (the student's value itself, or its projection to the teacher's width).
struct HintHead {
  HintSpec spec;
  std::string student_output;
  bool projected = false;
  std::vector<int64_t> teacher_shape, student_shape;  ///< of one sample's batch, as measured
  int64_t projection_parameters = 0;
  // What attach_hint_heads added, for detach_hint_heads.
  std::vector<std::string> added_nodes, added_initializers;
  bool added_output = false;
};

/// Checks every hint against both models on `one_sample` (a batch both read) and attaches it to
/// `student`: the values must exist and be computed by a node, and their shapes may differ only in
/// the channel axis (axis 1 of rank 2 and 4, the last axis of rank 3); Error(kBadInput) naming the
/// hint otherwise. Projections start as PyTorch's Conv2d/Linear do (uniform +-1/sqrt(fan_in)) from `seed`.
std::vector<HintHead> attach_hint_heads(ir::Model& student, const ir::Model& teacher, const std::vector<HintSpec>& hints,
                                        const kernels::NamedTensors& one_sample, uint64_t seed);

/// Removes what attach_hint_heads added (projection nodes and weights, extra graph outputs).
void detach_hint_heads(ir::Model& student, const std::vector<HintHead>& heads);

}  // namespace scalec::distill
