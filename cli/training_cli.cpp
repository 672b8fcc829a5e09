#include "cli/training_cli.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <numeric>
#include <span>

#include <spdlog/spdlog.h>

#include "cli/progress.h"
#include "ir/error.h"
#include "kernels/comm/communicator.h"
#include "onnx_io/data_files.h"

namespace scalec::cli {

namespace {
// --batch for training: 1 or more, and a clear word for 0 (which means "as given" elsewhere).
const CLI::Validator kTrainingBatch(
    [](std::string& value) -> std::string {
      int64_t n = 0;
      if (!CLI::detail::lexical_cast(value, n) || n < 0) return "must be a number of samples, 1 or more";
      if (n == 0) {
        return "0 (all arrays as given, in one run) is for infer, eval and quantize; training needs batches of samples "
               "(1 or more)";
      }
      return "";
    },
    "N>=1");
}  // namespace

void add_device_option(CLI::App* cmd, const std::string& flag, std::string& target, const std::string& what) {
  const CLI::Validator device(
      [](std::string& value) -> std::string {
        if (value == "cpu") return "";
        if (value == "cuda" || value.rfind("cuda:", 0) == 0) {
          return "'" + value + "': this build has no CUDA kernels yet, so training runs on the CPU (--device cpu)";
        }
        return "'" + value + "' is not a device: cpu (cuda once the CUDA backend is in)";
      },
      "cpu");
  cmd->add_option(flag, target, what + ": cpu (the only device this build trains on)")->check(device);
}

void add_trainer_options(CLI::App* cmd, distill::TrainerOptions& opts) {
  cmd->add_option("--output", opts.output, "Model output holding the logits (default: the first)");
  cmd->add_option("--batch", opts.batch, "Samples per step (default 32)")->check(kTrainingBatch);
  // Training splits every input along axis 0: the options of infer/eval/quantize that say otherwise
  // are refused by name instead of as unknown arguments.
  for (const char* flag : {"--whole", "--batch-axis"}) {
    cmd->add_option_function<std::string>(flag, [flag](const std::string&) {
         throw CLI::ValidationError(flag, "is for infer, eval and quantize; training splits every input along axis 0");
       })->group("");
  }
  add_optimizer_options(cmd, opts);
  add_device_option(cmd, "--device", opts.device, "Where the model trains");
  cmd->add_option("--threads", opts.threads,
                  "Threads (default: the CPUs this process may use; under mpirun, the machine's cores / its ranks)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--local-bn", opts.local_bn,
                "Under mpirun: BatchNormalization uses each rank's own batch statistics (faster; results then differ from one process)");
  cmd->add_option("--check-replicas", opts.check_replicas,
                  "Under mpirun: compare a hash of the weights across ranks every N steps (exit 70 naming a rank that diverged)")
      ->check(CLI::NonNegativeNumber);
}

void add_optimizer_options(CLI::App* cmd, distill::TrainerOptions& opts) {
  cmd->add_option("--lr", opts.schedule.base_lr, "Learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--optimizer", opts.optimizer.kind, "sgd or adamw")->check(CLI::IsMember({"sgd", "adamw"}));
  cmd->add_option("--momentum", opts.optimizer.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--nesterov", opts.optimizer.nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--weight-decay", opts.optimizer.weight_decay, "SGD: L2 in the gradient; AdamW: decoupled")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--schedule", opts.schedule.kind, "constant, step or cosine")
      ->check(CLI::IsMember({"constant", "step", "cosine"}));
  cmd->add_option("--warmup-steps", opts.schedule.warmup_steps, "Linear warm-up steps")->check(CLI::NonNegativeNumber);
  cmd->add_option("--step-size", opts.schedule.step_size, "step schedule: steps between decays")->check(CLI::PositiveNumber);
  cmd->add_option("--gamma", opts.schedule.gamma, "step schedule: decay factor")->check(CLI::PositiveNumber);
  cmd->add_option("--label-smoothing", opts.label_smoothing, "Cross-entropy label smoothing")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--l1", opts.l1, "L1 regularization lambda * |W|_1 on weights (rank >= 2)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--freeze", opts.freeze, "Keep initializers matching this glob fixed (repeatable)");
  cmd->add_option("--seed", opts.seed, "Seed of shuffling and Dropout");
}

Dataset labelled(const ir::Model& model, const std::string& path, const std::string& key, const char* flag) {
  onnx_io::SampleAxes axes;
  axes.advice = "; training splits every input into samples along axis 0";
  Dataset d = load_streamed_dataset(model, path, key, axes);  // each step reads its rows
  if (!d.labels) throw_bad_input("{} '{}' has no '{}' array: training needs integer labels (--labels NAME)", flag, path, key);
  if (d.samples == 0) throw_bad_input("{} '{}' holds no samples", flag, path);
  return d;
}

distill::TrainingData training_data(const Dataset& d) {
  return {d.samples, [&d](std::span<const int64_t> rows) { return pick_batch(d, rows); },
          [&d](std::span<const int64_t> rows) { return pick_rows(*d.labels, rows); }, {}};
}

int64_t plan_steps(const ir::Model& model, distill::TrainerOptions& t, int64_t samples, int64_t epochs) {
  t.batch = batch_size_for(model, t.batch, samples);
  t.comm = &kernels::comm::world();
  if (const int ranks = t.comm->size(); t.batch % ranks != 0) {
    throw Error(ExitCode::kUsage, fmt::format("--batch {} (the global batch) does not divide evenly over {} ranks: use a multiple of {}",
                                              t.batch, ranks, ranks));
  }
  const int64_t steps_per_epoch = (samples + t.batch - 1) / t.batch;
  t.schedule.total_steps = steps_per_epoch * epochs;
  return steps_per_epoch;
}

nlohmann::json run_epochs(distill::Trainer& trainer, const distill::TrainingData& train,
                          const std::optional<distill::TrainingData>& val, int64_t first, int64_t epochs, bool quiet,
                          const std::function<void(int64_t epoch)>& after_epoch) {
  nlohmann::json records = nlohmann::json::array();
  for (int64_t e = first; e < epochs; ++e) {
    distill::EpochStats s;
    {
      // One step per batch of the shuffled epoch: the bar follows the batches the trainer asks for.
      ProgressBar bar(fmt::format("epoch {}/{}", e + 1, epochs), (train.samples + trainer.batch() - 1) / trainer.batch());
      int64_t steps = 0;
      distill::TrainingData counted = train;
      counted.feeds = [&](std::span<const int64_t> rows) {
        bar.set(++steps);
        return train.feeds(rows);
      };
      s = trainer.train_epoch(counted, e);
    }
    if (s.skipped_samples > 0 && e == first) {
      spdlog::warn("the last {} samples of each epoch are skipped: fewer than the ranks, and BatchNormalization synchronized "
                   "across ranks needs a sample on each (--local-bn trains them)", s.skipped_samples);
    }
    if (!std::isfinite(s.loss)) throw_bad_input("training diverged in epoch {} (loss {}): lower --lr", e + 1, s.loss);
    std::string line = fmt::format("epoch {:>3}/{}  loss {:.4f}  acc {:.2f}%", e + 1, epochs, s.loss, 100 * s.accuracy);
    nlohmann::json je = {{"epoch", e + 1}, {"loss", s.loss}, {"accuracy", s.accuracy}, {"seconds", s.seconds},
                         {"samples_per_second", s.samples_per_second}};
    if (s.hint_loss) {  // feature hints: their weighted share of the loss
      line += fmt::format(" (hints {:.4f})", *s.hint_loss);
      je["hint_loss"] = *s.hint_loss;
    }
    if (kernels::comm::world().size() > 1) {
      je["ranks"] = kernels::comm::world().size();
      je["allreduce_wait_seconds"] = s.comm_wait_seconds;  // communication not hidden behind backward
    }
    if (val) {
      distill::EvalStats v = trainer.evaluate(*val);
      line += fmt::format("  val loss {:.4f}  val acc {:.2f}%", v.loss, 100 * v.accuracy);
      je["val_loss"] = v.loss;
      je["val_accuracy"] = v.accuracy;
    }
    line += fmt::format("  ({:.1f} s, {:.0f} samples/s)\n", s.seconds, s.samples_per_second);
    if (!quiet) std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
    records.push_back(je);
    if (after_epoch) after_epoch(e);
  }
  return records;
}

std::vector<onnx_io::NamedTensor> share_from_rank0(std::vector<onnx_io::NamedTensor> tensors) {
  kernels::comm::Communicator& comm = kernels::comm::world();
  if (comm.size() == 1) return tensors;
  std::string bytes;  // rank 0's tensors as (name size, name, .npy size, .npy) records
  auto put = [&bytes](const std::string& part) {
    const uint64_t n = part.size();
    bytes.append(reinterpret_cast<const char*>(&n), sizeof n).append(part);
  };
  if (comm.rank() == 0) {
    for (const auto& [name, t] : tensors) {
      put(name);
      put(onnx_io::npy_bytes(t));
    }
  }
  kernels::comm::broadcast_bytes(comm, bytes, 0);
  if (comm.rank() == 0) return tensors;
  std::vector<onnx_io::NamedTensor> out;
  size_t at = 0;
  auto take = [&]() {
    uint64_t n = 0;
    std::memcpy(&n, bytes.data() + at, sizeof n);
    at += sizeof n;
    std::string part = bytes.substr(at, n);
    at += n;
    return part;
  };
  while (at < bytes.size()) {
    std::string name = take(), npy = take();
    out.emplace_back(name, onnx_io::read_npy_bytes(std::as_bytes(std::span<const char>(npy.data(), npy.size())), "rank 0's " + name));
  }
  return out;
}

int64_t TrainingCheckpoint::restore(bool resume, distill::Trainer& trainer, std::vector<onnx_io::NamedTensor>* extra) const {
  if (!resume || path.empty()) return 0;
  std::vector<onnx_io::NamedTensor> state;  // rank 0 reads the checkpoint, every rank restores it
  if (kernels::comm::world().rank() == 0 && std::filesystem::exists(path)) state = onnx_io::read_npz(path);
  state = share_from_rank0(std::move(state));
  if (state.empty()) return 0;
  auto meta = [&](const std::string& key) {
    for (const auto& [k, v] : state) {
      if (k == key) return v.element_as_double(0);
    }
    throw_bad_input("checkpoint '{}' has no '{}': not a scalec {} checkpoint", path, key, command);
  };
  for (const auto& [key, value] : identity) {
    if (meta(key) != value) {
      throw_bad_input("checkpoint '{}' was written with {} = {}, this run has {}", path, key.substr(5), meta(key), value);
    }
  }
  const int64_t first = static_cast<int64_t>(meta("meta/epoch")) + 1;
  trainer.restore(state);
  if (extra) {
    for (auto& [k, v] : state) {
      if (k.rfind("extra/", 0) == 0) extra->emplace_back(k.substr(6), v);
    }
  }
  spdlog::info("resumed from {} after epoch {}", path, first);
  return first;
}

void TrainingCheckpoint::save(const distill::Trainer& trainer, int64_t epoch, const std::vector<onnx_io::NamedTensor>& extra) const {
  if (path.empty() || kernels::comm::world().rank() != 0) return;  // rank 0 alone writes
  std::vector<onnx_io::NamedTensor> saved = trainer.checkpoint();
  for (const auto& [k, v] : identity) {
    ir::Tensor d(ir::DType::kDouble, {});
    d.mutable_values<double>()[0] = v;
    saved.emplace_back(k, d);
  }
  for (const auto& [k, v] : extra) saved.emplace_back("extra/" + k, v);
  saved.emplace_back("meta/epoch", ir::Tensor::from_int64s({}, std::vector<int64_t>{epoch}));
  onnx_io::write_npz(path, saved);
}

double top1_accuracy(const ir::Model& model, const Dataset& data, int64_t batch, int threads, const std::string& output) {
  kernels::ExecutorOptions eo;
  eo.threads = threads;
  kernels::Executor exec(model, eo);
  batch = batch_size_for(model, batch, data.samples);
  int64_t correct = 0;
  for (int64_t b = 0; b < data.samples; b += batch) {
    const int64_t end = std::min(data.samples, b + batch);
    kernels::NamedTensors outs = exec.run(batch_of(data, b, end));
    const ir::Tensor* scores = &outs.front().second;
    for (const auto& [name, t] : outs) {
      if (name == output) scores = &t;
    }
    if (scores->rank() != 2 || scores->shape()[0] != end - b) {
      throw_bad_input("accuracy needs [N, classes] scores; the model's output has shape {}", ir::shape_to_string(scores->shape()));
    }
    const int64_t classes = scores->shape()[1];
    for (int64_t i = 0; i < end - b; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c) {
        if (scores->element_as_double(i * classes + c) > scores->element_as_double(i * classes + best)) best = c;
      }
      correct += best == static_cast<int64_t>(data.labels->element_as_double(b + i));
    }
  }
  return static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(data.samples, 1));
}

}  // namespace scalec::cli
