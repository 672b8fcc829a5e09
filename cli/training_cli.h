#pragma once
// What the training commands (finetune, prune with recovery, distill) share: their training options,
// labelled data, the epoch loop with its log lines, and top-1 accuracy for before/after figures.
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/dataset.h"
#include "distill/trainer.h"
#include "onnx_io/data_files.h"

namespace scalec::cli {

/// Registers --output, --batch, --lr, --optimizer ... --seed, --threads on `cmd`, writing into `opts`.
void add_trainer_options(CLI::App* cmd, distill::TrainerOptions& opts);
/// Only the optimizer, schedule and regularization options (--lr ... --seed), for a command that
/// has its own --output, --batch and --threads (quantize --qat).
void add_optimizer_options(CLI::App* cmd, distill::TrainerOptions& opts);

/// Registers a device option (`--device`, `--teacher-device`) writing into `target`: "cpu" is what
/// this build runs; "cuda" or "cuda:N" is refused naming why (no CUDA kernels yet) instead of ignored.
void add_device_option(CLI::App* cmd, const std::string& flag, std::string& target, const std::string& what);

/// Loads `path` for training or validation: it must carry labels under `key` and hold samples.
Dataset labelled(const ir::Model& model, const std::string& path, const std::string& key, const char* flag);

/// Cuts rows of `d` into feeds and labels for the Trainer (`d` must outlive the result).
distill::TrainingData training_data(const Dataset& d);

/// Sets batch (from the model), schedule.total_steps for `epochs` over `samples`, and the ranks
/// training together (world(); the global batch must divide evenly over them, else exit 1);
/// returns steps per epoch.
int64_t plan_steps(const ir::Model& model, distill::TrainerOptions& t, int64_t samples, int64_t epochs);

/// Runs epochs [first, epochs), printing one line each (unless `quiet`), evaluating `val` when given;
/// `after_epoch(e)` runs after each (checkpoints). Returns the per-epoch JSON records.
nlohmann::json run_epochs(distill::Trainer& trainer, const distill::TrainingData& train,
                          const std::optional<distill::TrainingData>& val, int64_t first, int64_t epochs, bool quiet,
                          const std::function<void(int64_t epoch)>& after_epoch = {});

/// A training run's checkpoint (.npz): the Trainer's state, a command's extra tensors (pruning
/// masks), the settings a resumed run must share ("meta/..."), and the last finished epoch.
struct TrainingCheckpoint {
  std::string path;                                       ///< "" = no checkpoint
  std::vector<std::pair<std::string, double>> identity;   ///< "meta/seed", ... as this run has them
  const char* command = "finetune";                       ///< names the command in errors

  /// With `resume` and an existing file: rank 0 reads it, every rank restores it into `trainer`;
  /// the extra tensors come back in `extra`. Returns the first epoch still to run (0 otherwise).
  /// Error(kBadInput) when the file is not such a checkpoint or was written with other settings.
  int64_t restore(bool resume, distill::Trainer& trainer, std::vector<onnx_io::NamedTensor>* extra = nullptr) const;
  /// Rank 0 writes the state after `epoch` (atomically); other ranks write nothing.
  void save(const distill::Trainer& trainer, int64_t epoch, const std::vector<onnx_io::NamedTensor>& extra = {}) const;
};

/// Rank 0's `tensors` on every rank (under mpirun; the same vector otherwise): a checkpoint only
/// rank 0 has read.
std::vector<onnx_io::NamedTensor> share_from_rank0(std::vector<onnx_io::NamedTensor> tensors);

/// Top-1 accuracy of `model` (inference) on labelled data; `output` names the logits ("" = first).
double top1_accuracy(const ir::Model& model, const Dataset& data, int64_t batch, int threads, const std::string& output);

}  // namespace scalec::cli
