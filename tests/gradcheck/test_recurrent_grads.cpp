// Backward through time of LSTM, GRU and RNN (kernels/ops/recurrent_grads.cpp) against central
// finite differences in double: every direction, layout 0 and 1, sequence_lens (shorter and zero
// lengths), initial_h/initial_c, peepholes, input_forget, linear_before_reset, clip, and the
// non-default activations with their alpha/beta; gradients for X, W, R, B, initial_h, initial_c, P
// with the loss reaching Y, Y_h and Y_c.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "support/gradcheck.h"

using namespace scalec;
using namespace scalec::test;

namespace {

using Ints = std::vector<int64_t>;

ir::Attribute attr_strings(const std::string& name, std::vector<std::string> v) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kStrings;
  a.strings = std::move(v);
  return a;
}

ir::Tensor int32s(const Ints& shape, const std::vector<int32_t>& values) {
  ir::Tensor t(ir::DType::kInt32, shape);
  std::copy(values.begin(), values.end(), t.mutable_values<int32_t>().begin());
  return t;
}

// One case: the cell, its sizes and what it is given.
struct RecurrentCase {
  const char* what;
  const char* op;
  int64_t s = 3, n = 2, i = 3, h = 2;
  std::string direction = "forward";
  int64_t layout = 0;
  bool bias = true, initial_h = true, initial_c = true, peepholes = true;
  std::vector<int32_t> lens = {};  ///< empty: sequence_lens omitted
  std::vector<ir::Attribute> attrs = {};
  int64_t opset = 14;
};

std::string check(const RecurrentCase& c, uint64_t seed) {
  const bool lstm = std::string(c.op) == "LSTM";
  const int64_t g = lstm ? 4 : std::string(c.op) == "GRU" ? 3 : 1;
  const int64_t d = c.direction == "bidirectional" ? 2 : 1;
  const Ints x = c.layout == 0 ? Ints{c.s, c.n, c.i} : Ints{c.n, c.s, c.i};
  const Ints state = c.layout == 0 ? Ints{d, c.n, c.h} : Ints{c.n, d, c.h};
  std::vector<GradInput> in = {GradInput::data(random_doubles(x, seed)),
                               GradInput::data(random_doubles({d, g * c.h, c.i}, seed + 1)),
                               GradInput::data(random_doubles({d, g * c.h, c.h}, seed + 2))};
  auto omitted = [] { return GradInput::fixed(ir::Tensor()); };
  in.push_back(c.bias ? GradInput::data(random_doubles({d, 2 * g * c.h}, seed + 3)) : omitted());
  in.push_back(c.lens.empty() ? omitted() : GradInput::fixed(int32s({c.n}, c.lens)));
  in.push_back(c.initial_h ? GradInput::data(random_doubles(state, seed + 4)) : omitted());
  if (lstm) {
    in.push_back(c.initial_c ? GradInput::data(random_doubles(state, seed + 5)) : omitted());
    in.push_back(c.peepholes ? GradInput::data(random_doubles({d, 3 * c.h}, seed + 6)) : omitted());
  }
  while (in.back().value.dtype() == ir::DType::kUndefined) in.pop_back();  // trailing omitted inputs
  std::vector<ir::Attribute> attrs = c.attrs;
  attrs.push_back(attr_s("direction", c.direction));
  attrs.push_back(attr_i("hidden_size", c.h));
  if (c.opset >= 14) attrs.push_back(attr_i("layout", c.layout));
  return gradcheck(c.op, in, attrs, at(c.opset, lstm ? 3 : 2));
}

void run_cases(const std::vector<RecurrentCase>& cases) {
  uint64_t seed = 500;
  for (const RecurrentCase& c : cases) {
    INFO(c.op << ": " << c.what);
    CHECK(check(c, seed += 10) == "");
  }
}

}  // namespace

TEST_CASE("RNN gradients through time match finite differences", "[gradcheck][recurrent]") {
  run_cases({
      {.what = "forward", .op = "RNN"},
      {.what = "reverse", .op = "RNN", .direction = "reverse"},
      {.what = "bidirectional, layout 1", .op = "RNN", .direction = "bidirectional", .layout = 1},
      {.what = "no bias, no initial_h", .op = "RNN", .bias = false, .initial_h = false},
      {.what = "sequence_lens 2 and 0", .op = "RNN", .direction = "bidirectional", .lens = {2, 0}},
      {.what = "opset 7", .op = "RNN", .direction = "reverse", .lens = {1, 3}, .opset = 7},
      {.what = "Relu", .op = "RNN", .attrs = {attr_strings("activations", {"Relu"})}},
      {.what = "ScaledTanh, Affine per direction", .op = "RNN", .direction = "bidirectional",
       .attrs = {attr_strings("activations", {"ScaledTanh", "Affine"}), attr_floats("activation_alpha", {0.7f, 1.3f}),
                 attr_floats("activation_beta", {1.5f, 0.2f})}},
      {.what = "clip 0.6", .op = "RNN", .attrs = {attr_f("clip", 0.6f)}},
  });
}

TEST_CASE("GRU gradients through time match finite differences", "[gradcheck][recurrent]") {
  run_cases({
      {.what = "forward", .op = "GRU"},
      {.what = "linear_before_reset", .op = "GRU", .attrs = {attr_i("linear_before_reset", 1)}},
      {.what = "reverse, linear_before_reset", .op = "GRU", .direction = "reverse",
       .attrs = {attr_i("linear_before_reset", 1)}},
      {.what = "bidirectional, layout 1, sequence_lens", .op = "GRU", .s = 4, .direction = "bidirectional",
       .layout = 1, .lens = {4, 2}},
      {.what = "bidirectional, linear_before_reset, sequence_lens with 0", .op = "GRU", .direction = "bidirectional",
       .lens = {0, 3}, .attrs = {attr_i("linear_before_reset", 1)}},
      {.what = "no bias, no initial_h", .op = "GRU", .bias = false, .initial_h = false},
      {.what = "HardSigmoid, Softsign", .op = "GRU",
       .attrs = {attr_strings("activations", {"HardSigmoid", "Softsign"}), attr_floats("activation_alpha", {0.3f}),
                 attr_floats("activation_beta", {0.4f})}},
      {.what = "clip 0.5", .op = "GRU", .direction = "bidirectional", .attrs = {attr_f("clip", 0.5f)}},
  });
}

TEST_CASE("LSTM gradients through time match finite differences", "[gradcheck][recurrent]") {
  run_cases({
      {.what = "forward with peepholes", .op = "LSTM"},
      {.what = "reverse", .op = "LSTM", .direction = "reverse"},
      {.what = "bidirectional, layout 1, sequence_lens", .op = "LSTM", .s = 4, .direction = "bidirectional",
       .layout = 1, .lens = {3, 4}},
      {.what = "sequence_lens with 0", .op = "LSTM", .direction = "bidirectional", .lens = {0, 2}},
      {.what = "input_forget", .op = "LSTM", .attrs = {attr_i("input_forget", 1)}},
      {.what = "no bias, states or peepholes", .op = "LSTM", .bias = false, .initial_h = false, .initial_c = false,
       .peepholes = false},
      {.what = "opset 7", .op = "LSTM", .direction = "bidirectional", .opset = 7},
      {.what = "Elu, Softplus, LeakyRelu, ThresholdedRelu per direction", .op = "LSTM", .direction = "bidirectional",
       .attrs = {attr_strings("activations", {"Sigmoid", "Softplus", "Elu", "HardSigmoid", "LeakyRelu", "Tanh"}),
                 attr_floats("activation_alpha", {0.8f, 0.25f, 0.1f}), attr_floats("activation_beta", {0.5f})}},
      {.what = "ThresholdedRelu", .op = "LSTM",
       .attrs = {attr_strings("activations", {"Sigmoid", "ThresholdedRelu", "Tanh"}),
                 attr_floats("activation_alpha", {0.05f})}},
      {.what = "clip 0.7", .op = "LSTM", .attrs = {attr_f("clip", 0.7f)}},
  });
}
