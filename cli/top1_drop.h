#pragma once
// The top-1 drop of a model against a reference model on validation data, as --max-accuracy-drop
// and quantize --target-drop measure it: accuracy points lost when the data has labels; without
// labels, 100 - the top-1 agreement (%) with the reference model's own predictions (100% agreement
// = no drop), so that a budget can be set on data nobody labelled.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/dataset.h"
#include "cli/stage.h"
#include "ir/graph.h"

namespace scalec::cli {

/// One model's figures against the reference.
struct Top1Drop {
  double drop = 0;                  ///< points: accuracy lost, or 100 - agreement %
  double agreement = 0;             ///< fraction of samples whose top-1 class is the reference's
  std::optional<double> accuracy;   ///< top-1 accuracy, with labels
};

/// The reference model's predictions on `eval.val`, run once; models are then measured against them.
class Top1DropMeter {
 public:
  /// Runs `reference` over `eval.val` (Error kBadInput for data that does not fit, no samples, or an
  /// output that is not [N, classes] scores).
  Top1DropMeter(const ir::Model& reference, const EvalSpec& eval);
  /// "accuracy" (labels) or "agreement" (none).
  const char* measure() const { return data_.labels ? "accuracy" : "agreement"; }
  /// The reference's top-1 accuracy, with labels.
  std::optional<double> reference_accuracy() const { return reference_accuracy_; }
  /// `model`'s drop against the reference.
  Top1Drop measure(const ir::Model& model) const;

 private:
  std::vector<int64_t> predict(const ir::Model& model) const;

  EvalSpec eval_;
  Dataset data_;
  std::vector<int64_t> reference_;
  std::optional<double> reference_accuracy_;
  int64_t reference_correct_ = 0;
};

}  // namespace scalec::cli
