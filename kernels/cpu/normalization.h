#pragma once
// Normalization CPU kernels: BatchNormalization (inference and training), LayerNormalization,
// InstanceNormalization, GroupNormalization, LpNormalization, MeanVarianceNormalization, and their
// backward kernels (normalization_backward.cpp).
// Statistics are computed in double, two-pass (mean, then mean squared deviation), each in a
// fixed order, so results do not depend on the thread count.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace scalec::kernels {

class ThreadPool;

/// BatchNormalization's outputs: Y and the updated running statistics (in the dtype and shape of
/// the input mean/var), plus the batch statistics (saved_mean, saved_var of opsets 1-13).
struct BatchNormOutputs {
  ir::Tensor y, running_mean, running_var, saved_mean, saved_var;
};

/// BatchNormalization. Parameters hold either C values (per channel) or C*D1*...*Dn values (the
/// per-activation mode of `spatial=0`). Inference normalizes with the given mean/var; training
/// uses the batch mean and (population) variance and returns running = input * momentum +
/// batch * (1 - momentum).
BatchNormOutputs batch_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                        const ir::Tensor& bias, const ir::Tensor& mean, const ir::Tensor& var,
                                        double epsilon, bool training, double momentum, const std::string& where);

/// LayerNormalization's outputs: Y, and Mean and InvStdDev of shape shape[:axis] + [1]*(rank-axis).
struct LayerNormOutputs {
  ir::Tensor y, mean, inv_std_dev;
};

/// LayerNormalization over the axes [axis, rank) (axis normalized); `scale` and the optional
/// `bias` broadcast to shape[axis:]; Mean and InvStdDev are written in `stat_dtype`.
LayerNormOutputs layer_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                        const ir::Tensor* bias, int64_t axis, double epsilon, ir::DType stat_dtype,
                                        const std::string& where);

/// InstanceNormalization: each (n, c) slice normalized over the spatial dims, then scale[c], bias[c].
ir::Tensor instance_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                     const ir::Tensor& bias, double epsilon, const std::string& where);

/// GroupNormalization: each (n, group) slice normalized over its C/groups channels and the spatial
/// dims; scale and bias hold C values (opset 21) or, with `per_group_affine`, `groups` (opset 18).
ir::Tensor group_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                  const ir::Tensor& bias, int64_t groups, double epsilon, bool per_group_affine,
                                  const std::string& where);

/// LpNormalization: x / ||x||_p along `axis` (normalized), p = 1 or 2; a zero norm gives zeros.
ir::Tensor lp_norm_forward_cpu(ThreadPool& pool, const ir::Tensor& x, int64_t axis, int64_t p,
                               const std::string& where);

/// MeanVarianceNormalization's epsilon, added to the standard deviation (the ONNX function body's).
inline constexpr double kMvnEpsilon = 1e-9;

/// MeanVarianceNormalization: (x - mean) / (std + kMvnEpsilon) over `axes` (normalized), as the
/// ONNX function body defines it.
ir::Tensor mvn_forward_cpu(ThreadPool& pool, const ir::Tensor& x, const std::vector<int64_t>& axes,
                           const std::string& where);

/// Gradients of a normalization op: dx and the gradients of its scale and bias (each shaped like
/// its parameter; empty where not wanted).
struct NormGrads {
  ir::Tensor dx, dscale, dbias;
};

/// Which gradients a normalization backward kernel computes.
struct NormWants {
  bool x = true, scale = true, bias = true;
};

/// BatchNormalization backward. `training`: the forward used the batch statistics, so dx also flows
/// through them, plus `dbatch_mean` / `dbatch_var` (P values each, or empty) reaching the batch
/// mean and variance through the statistics outputs. Inference: mean/var are constants,
/// dx = dy * scale / sqrt(var + eps). No gradient to mean/var.
NormGrads batch_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor& bias,
                                  const ir::Tensor& mean, const ir::Tensor& var, const ir::Tensor& dy, double epsilon,
                                  bool training, const std::vector<double>& dbatch_mean,
                                  const std::vector<double>& dbatch_var, const NormWants& want, const std::string& where);

/// Sums values over the ranks of a data-parallel job, in place (synchronized BatchNormalization).
using SumOverRanks = std::function<void(std::span<double>)>;

/// BatchNormalization training forward with the batch statistics of every rank's batch together
/// (synchronized BatchNorm: the same as one process holding the whole global batch).
BatchNormOutputs batch_norm_forward_sync_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                             const ir::Tensor& bias, const ir::Tensor& mean, const ir::Tensor& var,
                                             double epsilon, double momentum, const SumOverRanks& sum, const std::string& where);
/// Its backward: dx through the global statistics; dscale and dB are this rank's share (the
/// gradient all-reduce sums them).
NormGrads batch_norm_backward_sync_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor& dy,
                                       double epsilon, const std::vector<double>& dbatch_mean,
                                       const std::vector<double>& dbatch_var, const NormWants& want,
                                       const SumOverRanks& sum, const std::string& where);

/// LayerNormalization backward over the axes [axis, rank); `dmean` / `dinv_std` (one value per
/// normalized row, or empty) are the gradients reaching the Mean and InvStdDev outputs.
NormGrads layer_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor* bias,
                                  int64_t axis, const ir::Tensor& dy, double epsilon, const std::vector<double>& dmean,
                                  const std::vector<double>& dinv_std, const NormWants& want, const std::string& where);

/// InstanceNormalization backward.
NormGrads instance_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale,
                                     const ir::Tensor& bias, const ir::Tensor& dy, double epsilon, const NormWants& want,
                                     const std::string& where);

/// GroupNormalization backward (scale/bias per channel, or per group with `per_group_affine`).
NormGrads group_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& scale, const ir::Tensor& bias,
                                  const ir::Tensor& dy, int64_t groups, double epsilon, bool per_group_affine,
                                  const NormWants& want, const std::string& where);

/// LpNormalization backward (y: the forward output).
ir::Tensor lp_norm_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& y, const ir::Tensor& dy,
                                int64_t axis, int64_t p, const std::string& where);

/// MeanVarianceNormalization backward over `axes` (normalized).
ir::Tensor mvn_backward_cpu(ThreadPool& pool, const ir::Tensor& x, const ir::Tensor& dy, const std::vector<int64_t>& axes,
                            const std::string& where);

}  // namespace scalec::kernels
