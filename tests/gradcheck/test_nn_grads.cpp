// Backward rules of the nn family (kernels/ops/nn_grads.cpp) against central finite differences in
// double: Conv and ConvTranspose in 1-D, 2-D and 3-D with strides, dilations, asymmetric pads,
// auto_pad, groups (depthwise too), with and without bias, the 1x1 direct path, ConvTranspose's
// output_padding and output_shape; Gemm with every transA/transB pair, alpha, beta, each C shape
// that broadcasts, beta = 0, no C, and the legacy opset 6 forms; MatMul with 1-D operands, batches,
// broadcast batch dimensions and the folded shared-B path. The kernels themselves (float, threads)
// are checked against naive loops in test_conv_backward.cpp.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "support/gradcheck.h"

using namespace scalec;
using namespace scalec::test;

namespace {

using Ints = std::vector<int64_t>;

// One convolution case: X and W shapes, whether B is given, the attributes and the opset.
struct ConvCase {
  const char* what;
  Ints x, w;
  bool bias;
  std::vector<ir::Attribute> attrs;
  int64_t opset = 17;
};

// Checks dX, dW (and dB) of `op` on seeded random inputs.
std::string check_conv(const char* op, const ConvCase& c, int64_t bias_size, uint64_t seed) {
  std::vector<GradInput> inputs = {GradInput::data(test::random_doubles(c.x, seed)),
                                   GradInput::data(test::random_doubles(c.w, seed + 1))};
  if (c.bias) inputs.push_back(GradInput::data(test::random_doubles({bias_size}, seed + 2)));
  return test::gradcheck(op, inputs, c.attrs, at(c.opset));
}

}  // namespace

TEST_CASE("Conv gradients match finite differences", "[gradcheck][nn]") {
  const std::vector<ConvCase> cases = {
      {"2-D with bias", {2, 3, 5, 5}, {4, 3, 3, 3}, true, {}},
      {"2-D without bias", {1, 2, 4, 5}, {3, 2, 2, 3}, false, {}},
      {"strides and asymmetric pads", {2, 2, 6, 5}, {3, 2, 3, 3}, true,
       {attr_ints("strides", {2, 2}), attr_ints("pads", {1, 0, 2, 1})}},
      {"dilations", {1, 2, 7, 6},
       {2, 2, 3, 2}, true, {attr_ints("dilations", {2, 3}), attr_ints("pads", {1, 1, 1, 1})}},
      {"stride 3, dilation 2, kernel_shape given", {1, 2, 9, 8}, {2, 2, 2, 2}, false,
       {attr_ints("strides", {3, 2}), attr_ints("dilations", {2, 2}), attr_ints("kernel_shape", {2, 2})}},
      {"groups", {2, 4, 5, 4}, {6, 2, 3, 3}, true, {attr_i("group", 2), attr_ints("pads", {1, 1, 1, 1})}},
      {"depthwise", {2, 3, 5, 5}, {3, 1, 3, 3}, true, {attr_i("group", 3), attr_ints("pads", {1, 1, 1, 1})}},
      {"depthwise multiplier 2, stride 2", {1, 2, 6, 6}, {4, 1, 3, 3}, true,
       {attr_i("group", 2), attr_ints("strides", {2, 2}), attr_ints("pads", {0, 1, 1, 0})}},
      {"1x1 direct", {2, 3, 3, 4}, {5, 3, 1, 1}, true, {}},
      {"1x1 stride 2", {1, 3, 5, 4}, {2, 3, 1, 1}, true, {attr_ints("strides", {2, 2})}},
      {"1x1 with pads", {1, 2, 3, 3}, {2, 2, 1, 1}, false, {attr_ints("pads", {1, 0, 0, 1})}},
      {"SAME_UPPER stride 2", {1, 2, 5, 6},
       {3, 2, 3, 2}, true, {attr_s("auto_pad", "SAME_UPPER"), attr_ints("strides", {2, 2})}},
      {"SAME_LOWER stride 2", {1, 2, 5, 6},
       {3, 2, 3, 2}, true, {attr_s("auto_pad", "SAME_LOWER"), attr_ints("strides", {2, 2})}},
      {"VALID", {1, 2, 5, 4}, {2, 2, 2, 3}, true, {attr_s("auto_pad", "VALID")}},
      {"1-D", {2, 3, 9},
       {4, 3, 3}, true, {attr_ints("strides", {2}), attr_ints("pads", {2, 1}), attr_ints("dilations", {2})}},
      {"1-D groups", {1, 4, 7}, {4, 2, 2}, true, {attr_i("group", 2)}},
      {"3-D", {1, 2, 4, 4, 3},
       {3, 2, 2, 3, 2}, true, {attr_ints("pads", {1, 0, 1, 0, 1, 0}), attr_ints("strides", {1, 2, 1})}},
      {"3-D depthwise dilated", {1, 2, 5, 4, 4},
       {2, 1, 2, 2, 2}, true, {attr_i("group", 2), attr_ints("dilations", {2, 1, 2})}},
      {"opset 1", {1, 2, 4, 4}, {2, 2, 3, 3}, true, {attr_ints("pads", {1, 1, 1, 1})}, 1},
      {"opset 11", {1, 2, 4, 4}, {2, 2, 3, 3}, true, {attr_ints("strides", {2, 1})}, 11},
      {"opset 22", {1, 2, 4, 4}, {2, 2, 3, 3}, true, {attr_s("auto_pad", "SAME_UPPER")}, 22},
  };
  uint64_t seed = 100;
  for (const ConvCase& c : cases) {
    INFO(c.what);
    CHECK(check_conv("Conv", c, c.w[0], seed += 10) == "");
  }
}

TEST_CASE("ConvTranspose gradients match finite differences", "[gradcheck][nn]") {
  // W is [C, M/group, k...]; B is [M] = [W[1] * group].
  const std::vector<std::pair<ConvCase, int64_t>> cases = {
      {{"2-D with bias", {2, 3, 3, 4}, {3, 2, 3, 3}, true, {}}, 2},
      {{"2-D without bias", {1, 2, 3, 3}, {2, 3, 2, 2}, false, {}}, 3},
      {{"strides and pads", {1, 2, 3, 3}, {2, 2, 3, 3}, true, {attr_ints("strides", {2, 2}), attr_ints("pads", {1, 0, 0, 1})}}, 2},
      {{"output_padding", {1, 2, 3, 2}, {2, 2, 3, 3}, true,
        {attr_ints("strides", {2, 3}), attr_ints("output_padding", {1, 2}), attr_ints("pads", {1, 1, 0, 0})}}, 2},
      {{"dilations", {1, 2, 3, 3}, {2, 2, 2, 3}, true, {attr_ints("dilations", {2, 2}), attr_ints("strides", {2, 1})}}, 2},
      {{"groups", {2, 4, 3, 3}, {4, 2, 2, 2}, true, {attr_i("group", 2), attr_ints("strides", {2, 2})}}, 4},
      {{"depthwise", {1, 3, 3, 4}, {3, 1, 3, 3}, true, {attr_i("group", 3), attr_ints("pads", {1, 1, 1, 1})}}, 3},
      {{"output_shape", {1, 2, 3, 3}, {2, 2, 3, 3}, true, {attr_ints("strides", {2, 2}), attr_ints("output_shape", {7, 6})}}, 2},
      // Beyond the full result (7 x 7): negative pads, Y has zeros around it.
      {{"output_shape past the full size", {1, 2, 3, 3}, {2, 2, 3, 3}, true,
        {attr_ints("strides", {2, 2}), attr_ints("output_shape", {8, 7})}}, 2},
      {{"SAME_UPPER", {1, 2, 3, 3}, {2, 2, 3, 3}, true, {attr_s("auto_pad", "SAME_UPPER"), attr_ints("strides", {2, 2})}}, 2},
      {{"SAME_LOWER", {1, 2, 3, 3}, {2, 2, 3, 2}, true, {attr_s("auto_pad", "SAME_LOWER"), attr_ints("strides", {2, 2})}}, 2},
      {{"1x1 direct", {2, 3, 3, 3}, {3, 4, 1, 1}, true, {}}, 4},
      {{"1-D", {2, 3, 4}, {3, 2, 3}, true, {attr_ints("strides", {3}), attr_ints("pads", {1, 2})}}, 2},
      {{"3-D", {1, 2, 2, 3, 2}, {2, 2, 2, 2, 3}, true, {attr_ints("strides", {2, 1, 2}), attr_ints("pads", {0, 1, 1, 0, 0, 1})}}, 2},
      {{"opset 1", {1, 2, 3, 3}, {2, 2, 2, 2}, true, {attr_ints("strides", {2, 2})}, 1}, 2},
  };
  uint64_t seed = 500;
  for (const auto& [c, m] : cases) {
    INFO(c.what);
    CHECK(check_conv("ConvTranspose", c, m, seed += 10) == "");
  }
}

TEST_CASE("Gemm gradients match finite differences", "[gradcheck][nn]") {
  const int64_t M = 3, K = 4, N = 5;
  struct GemmCase {
    const char* what;
    bool ta, tb;
    Ints c;        ///< C's shape; {-1}: no C
    float alpha, beta;
    int64_t opset;
    std::vector<ir::Attribute> extra;
  };
  const std::vector<GemmCase> cases = {
      {"plain, C [M, N]", false, false, {M, N}, 1.0f, 1.0f, 13, {}},
      {"transA", true, false, {M, N}, 1.0f, 1.0f, 13, {}},
      {"transB", false, true, {M, N}, 1.0f, 1.0f, 13, {}},
      {"transA and transB", true, true, {M, N}, 1.0f, 1.0f, 13, {}},
      {"alpha and beta", true, false, {M, N}, 0.5f, -1.5f, 13, {}},
      {"C [N]", false, true, {N}, 1.5f, 2.0f, 13, {}},
      {"C [1, N]", false, false, {1, N}, 1.0f, 0.7f, 13, {}},
      {"C [M, 1]", true, true, {M, 1}, 1.0f, 0.3f, 13, {}},
      {"C [1]", false, false, {1}, 2.0f, 3.0f, 13, {}},
      {"C scalar", false, false, {}, 1.0f, 1.0f, 13, {}},
      {"beta 0", false, false, {M, N}, 1.0f, 0.0f, 13, {}},
      {"no C", true, true, {-1}, 0.25f, 1.0f, 13, {}},
      {"opset 6 broadcast=1, C [N]", false, true, {N}, 1.0f, 0.5f, 6, {attr_i("broadcast", 1)}},
      {"opset 6 broadcast=0", true, false, {M, N}, 2.0f, 0.5f, 6, {}},
      {"opset 9", false, false, {1, N}, 1.0f, 1.0f, 9, {}},
  };
  uint64_t seed = 900;
  for (const GemmCase& c : cases) {
    INFO(c.what);
    std::vector<GradInput> inputs = {
        GradInput::data(test::random_doubles(c.ta ? Ints{K, M} : Ints{M, K}, seed += 3)),
        GradInput::data(test::random_doubles(c.tb ? Ints{N, K} : Ints{K, N}, seed + 1))};
    if (c.c != Ints{-1}) inputs.push_back(GradInput::data(test::random_doubles(c.c, seed + 2)));
    std::vector<ir::Attribute> attrs = c.extra;
    attrs.push_back(attr_i("transA", c.ta ? 1 : 0));
    attrs.push_back(attr_i("transB", c.tb ? 1 : 0));
    attrs.push_back(attr_f("alpha", c.alpha));
    attrs.push_back(attr_f("beta", c.beta));
    CHECK(test::gradcheck("Gemm", inputs, attrs, at(c.opset)) == "");
  }
}

TEST_CASE("MatMul gradients match finite differences", "[gradcheck][nn]") {
  struct MatMulCase {
    const char* what;
    Ints a, b;
  };
  const std::vector<MatMulCase> cases = {
      {"2-D", {3, 4}, {4, 5}},
      {"1-D A", {4}, {4, 5}},
      {"1-D B", {3, 4}, {4}},
      {"1-D both", {4}, {4}},
      {"batched", {2, 3, 4}, {2, 4, 5}},
      {"shared B (folded)", {2, 3, 3, 4}, {4, 5}},
      {"shared A", {3, 4}, {2, 4, 5}},
      {"broadcast both", {2, 1, 3, 4}, {1, 3, 4, 2}},
      {"broadcast batch of 1", {1, 3, 4}, {3, 4, 2}},
      {"1-D A against a batch", {4}, {2, 3, 4, 5}},
      {"batch against 1-D B", {2, 3, 3, 4}, {4}},
      {"B with a batch of 1", {2, 3, 4}, {1, 4, 5}},
  };
  uint64_t seed = 1300;
  for (const MatMulCase& c : cases) {
    INFO(c.what);
    CHECK(test::gradcheck("MatMul",
                          {GradInput::data(test::random_doubles(c.a, seed += 3)),
                           GradInput::data(test::random_doubles(c.b, seed + 1))},
                          {}, at(13)) == "");
  }
}

TEST_CASE("nn rules give only the gradients that are asked for", "[gradcheck][nn]") {
  // W as a fixed initializer: only dX and dB are computed (the W path is skipped).
  CHECK(test::gradcheck("Conv",
                        {GradInput::data(test::random_doubles({1, 2, 4, 4}, 1)),
                         GradInput::fixed(test::random_doubles({3, 2, 3, 3}, 2)),
                         GradInput::data(test::random_doubles({3}, 3))},
                        {attr_ints("strides", {2, 2})}) == "");
  CHECK(test::gradcheck("ConvTranspose",
                        {GradInput::fixed(test::random_doubles({1, 2, 3, 3}, 4)),
                         GradInput::data(test::random_doubles({2, 3, 2, 2}, 5))},
                        {attr_ints("strides", {2, 2})}) == "");
  CHECK(test::gradcheck("MatMul",
                        {GradInput::fixed(test::random_doubles({2, 3, 4}, 6)),
                         GradInput::data(test::random_doubles({4, 2}, 7))}) == "");
  CHECK(test::gradcheck("Gemm",
                        {GradInput::data(test::random_doubles({3, 4}, 8)), GradInput::fixed(test::random_doubles({4, 2}, 9)),
                         GradInput::data(test::random_doubles({2}, 10))}) == "");
}
