#pragma once
// What a compression run covered: the layers (and their parameters) it changed, and the layers it
// left grouped by reason, so every command can say how much it did ("pruned 48 of 53 layers,
// 96.0% of weights") and refuse, with exit 2 and the reasons, a run that changed nothing.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace scalec::passes {

/// Layers a pass changed and, grouped by reason in first-seen order, the layers it left.
class Coverage {
 public:
  /// One reason and the layers it left: how many, their parameters, their names in order.
  struct Left {
    std::string reason;
    int64_t count = 0;
    int64_t params = 0;
    std::vector<std::string> names;
  };

  /// `unit` names what is counted ("layer"; finetune counts "weight tensor"s).
  explicit Coverage(std::string unit = "layer") : unit_(std::move(unit)) {}

  /// Records one layer holding `params` float weights; `reason` (one generic phrase, so layers
  /// group) says why it was left and is ignored when `changed`.
  void add(const std::string& name, int64_t params, bool changed, const std::string& reason = {});
  /// Float weights outside any layer (biases, normalization scales): in params_total only.
  void add_other_params(int64_t params) { params_total_ += params; }

  /// Adds the layers another pass covered (disjoint from this one's: they never double count).
  void merge(const Coverage& other);

  int64_t layers_changed() const { return layers_changed_; }
  int64_t layers_total() const { return layers_total_; }
  int64_t params_changed() const { return params_changed_; }
  int64_t params_total() const { return params_total_; }
  const std::vector<Left>& left() const { return left_; }
  bool nothing_changed() const { return layers_changed_ == 0; }

  /// "pruned 48 of 53 layers, 96.0% of weights" (`verb` first; the share is of params_total).
  std::string summary(const std::string& verb) const;
  /// One line per reason: "3 first/last layer kept dense: conv1, fc, head" (the first
  /// `max_names` names, then "...").
  std::vector<std::string> reason_lines(size_t max_names = 3) const;
  /// Error(kBadInput) "nothing <verb>: 0 of 53 layers\n  <reason line>..." when no layer was changed.
  void throw_if_nothing_changed(const std::string& verb) const;
  /// {"layers_changed", "layers_total", "params_changed", "params_total",
  ///  "left": [{"reason", "count", "params", "names"}]}
  nlohmann::json to_json() const;

 private:
  /// "layer" or "layers" after `n`.
  std::string units(int64_t n) const { return n == 1 ? unit_ : unit_ + "s"; }
  std::string unit_;
  int64_t layers_changed_ = 0, layers_total_ = 0, params_changed_ = 0, params_total_ = 0;
  std::vector<Left> left_;
};

}  // namespace scalec::passes
