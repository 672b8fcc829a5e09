#pragma once
// Gradient checks (STYLE.md "Tests" 2): a backward rule against central finite differences in
// double, through the real Executor (training run) and Autodiff. The loss is
// L = sum_k <w_k, y_k> over the graph outputs with fixed random weights w_k, so dL/dy_k = w_k.
// Also the tensor and option shorthands the checks' case tables share (attributes: support/attrs.h).
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/attrs.h"

namespace scalec::test {

/// One input of the op under test.
struct GradInput {
  ir::Tensor value;
  bool check = true;        ///< compare this input's gradient (float/double inputs only)
  bool constant = false;    ///< store as an initializer (shape arguments, indices); never checked
  static GradInput data(ir::Tensor t) { return {std::move(t), true, false}; }
  static GradInput fixed(ir::Tensor t) { return {std::move(t), false, true}; }
  static GradInput unchecked(ir::Tensor t) { return {std::move(t), false, false}; }
};

/// Tolerances and set-up of one check.
struct GradcheckOptions {
  int64_t opset = 17;
  size_t num_outputs = 1;  ///< outputs the node declares; every one gets a loss weight
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  uint64_t seed = 7;       ///< loss weights, and the run seed (Dropout)
};

/// Default options at `opset`, for a node that declares `outputs` outputs.
GradcheckOptions at(int64_t opset, size_t outputs = 1);

/// Random doubles uniform in [lo, hi) (seeded).
ir::Tensor random_doubles(std::vector<int64_t> shape, uint64_t seed, double lo = -1.0, double hi = 1.0);
/// Random doubles with |x| in [gap, 1] and random sign: away from the kink of Relu, Abs, etc.
ir::Tensor random_away_from_zero(std::vector<int64_t> shape, uint64_t seed, double gap = 0.1);
/// An int64 tensor.
ir::Tensor int64s(std::vector<int64_t> shape, std::vector<int64_t> values);
/// A double tensor holding `values` (one per element; shape {} for a scalar).
ir::Tensor doubles(std::vector<int64_t> shape, const std::vector<double>& values);
/// A bool tensor holding `values` (one per element).
ir::Tensor bools(std::vector<int64_t> shape, const std::vector<bool>& values);

/// Checks `op` (one node; attributes `attrs`) on `inputs`: "" when every checked input's gradient
/// matches finite differences, else a message naming input, element, analytic and numeric values.
std::string gradcheck(const std::string& op, const std::vector<GradInput>& inputs, std::vector<ir::Attribute> attrs = {},
                      const GradcheckOptions& options = {});

/// Same for a whole model: `feeds` are its graph inputs, `check` names those whose gradient is compared.
std::string gradcheck_model(const ir::Model& model, const std::vector<std::pair<std::string, ir::Tensor>>& feeds,
                            const std::vector<std::string>& check, const GradcheckOptions& options = {});

}  // namespace scalec::test
