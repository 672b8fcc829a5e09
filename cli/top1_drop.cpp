#include "cli/top1_drop.h"

#include <fmt/format.h>

#include "cli/model_compare.h"
#include "ir/error.h"
#include "kernels/exec/executor.h"

namespace scalec::cli {

namespace {

int64_t correct_of(const std::vector<int64_t>& predicted, const ir::Tensor& labels) {
  int64_t correct = 0;
  for (size_t i = 0; i < predicted.size(); ++i) {
    correct += predicted[i] == static_cast<int64_t>(labels.element_as_double(static_cast<int64_t>(i)));
  }
  return correct;
}

}  // namespace

Top1DropMeter::Top1DropMeter(const ir::Model& reference, const EvalSpec& eval)
    : eval_(eval), data_(load_dataset(reference, eval.val, eval.labels)) {
  if (data_.samples == 0) throw_bad_input("--val '{}' holds no samples: there is nothing to measure a drop on", eval.val);
  if (!eval_.output.empty() && output_index(reference, eval_.output) < 0) {
    throw Error(ExitCode::kUsage, fmt::format("--output '{}' is not an output of the model (it has {})", eval_.output,
                                              output_names(reference)));
  }
  reference_ = predict(reference);
  if (data_.labels) {
    reference_correct_ = correct_of(reference_, *data_.labels);
    reference_accuracy_ = static_cast<double>(reference_correct_) / static_cast<double>(data_.samples);
  }
}

std::vector<int64_t> Top1DropMeter::predict(const ir::Model& model) const {
  kernels::ExecutorOptions eo;
  eo.threads = eval_.threads;
  kernels::Executor exec(model, eo);
  const int64_t index = eval_.output.empty() ? 0 : output_index(model, eval_.output);
  if (index < 0) throw_internal("output '{}' vanished from the model", eval_.output);
  const int64_t batch = batch_size_for(model, eval_.batch, data_.samples);
  std::vector<int64_t> predicted;
  for (int64_t b = 0; b < data_.samples; b += batch) {
    const int64_t end = std::min(data_.samples, b + batch);
    kernels::NamedTensors outs = exec.run(batch_of(data_, b, end));
    const ir::Tensor& y = outs[static_cast<size_t>(index)].second;
    if (y.rank() != 2 || y.shape()[0] != end - b || y.shape()[1] == 0) {
      throw_bad_input("a top-1 drop needs [N, classes] scores; output '{}' has shape {} (--output picks another)",
                      outs[static_cast<size_t>(index)].first, ir::shape_to_string(y.shape()));
    }
    const std::vector<int64_t> top = argmax_axis1(y);
    predicted.insert(predicted.end(), top.begin(), top.end());
  }
  return predicted;
}

Top1Drop Top1DropMeter::measure(const ir::Model& model) const {
  const std::vector<int64_t> predicted = predict(model);
  const auto n = static_cast<double>(predicted.size());
  int64_t agree = 0;
  for (size_t i = 0; i < predicted.size(); ++i) agree += predicted[i] == reference_[i];
  Top1Drop d;
  d.agreement = static_cast<double>(agree) / n;
  // From the counts, so that 2 of 200 samples is exactly 1 point (a budget of 1.0 then holds).
  if (data_.labels) {
    const int64_t correct = correct_of(predicted, *data_.labels);
    d.accuracy = static_cast<double>(correct) / n;
    d.drop = 100.0 * static_cast<double>(reference_correct_ - correct) / n;
  } else {
    d.drop = 100.0 * static_cast<double>(static_cast<int64_t>(predicted.size()) - agree) / n;
  }
  return d;
}

}  // namespace scalec::cli
