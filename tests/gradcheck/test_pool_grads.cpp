// Backward rules of the pool family (kernels/ops/pool_grads.cpp) against central finite
// differences in double: MaxPool with pads, strides, dilations, ceil_mode, auto_pad, overlapping
// windows (one input the maximum of several), with its Indices output in both storage orders and
// without it; AveragePool with count_include_pad both ways, ceil_mode overhang, dilations and
// auto_pad; GlobalAveragePool and GlobalMaxPool; 1-D, 2-D and 3-D. Random inputs have no ties
// (a finite difference across a tie measures neither side); the tie rule itself is checked by
// comparing with the forward's Indices.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "kernels/cpu/pool.h"
#include "kernels/cpu/pool_backward.h"
#include "kernels/cpu/thread_pool.h"
#include "support/gradcheck.h"

using namespace scalec;
using namespace scalec::test;
using ir::DType;
using ir::Tensor;

namespace {

using Ints = std::vector<int64_t>;

// One pooling case: X's shape, attributes, opset and the outputs the node declares.
struct PoolCase {
  const char* what;
  Ints x;
  std::vector<ir::Attribute> attrs;
  int64_t opset = 17;
  size_t outputs = 1;
};

std::string check_pool(const char* op, const PoolCase& c, uint64_t seed) {
  return test::gradcheck(op, {GradInput::data(test::random_doubles(c.x, seed))}, c.attrs, at(c.opset, c.outputs));
}

}  // namespace

TEST_CASE("MaxPool gradients match finite differences", "[gradcheck][pool]") {
  const std::vector<PoolCase> cases = {
      {"2-D 2x2 stride 2", {2, 3, 4, 6}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}},
      {"overlapping 3x3 stride 1 with pads", {1, 2, 5, 5},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1})}},
      {"asymmetric pads, stride 2", {1, 2, 6, 5},
       {attr_ints("kernel_shape", {3, 2}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 0, 0, 1})}},
      {"dilations", {1, 2, 7, 7},
       {attr_ints("kernel_shape", {2, 3}), attr_ints("dilations", {2, 2}), attr_ints("strides", {1, 2})}, 12},
      {"ceil_mode", {1, 2, 6, 7},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_i("ceil_mode", 1)}, 10},
      {"ceil_mode with pads", {1, 1, 5, 6},
       {attr_ints("kernel_shape", {2, 3}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1}),
        attr_i("ceil_mode", 1)}, 22},
      {"SAME_UPPER", {1, 2, 5, 5},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_s("auto_pad", "SAME_UPPER")}},
      {"SAME_LOWER", {1, 2, 5, 4},
       {attr_ints("kernel_shape", {2, 3}), attr_ints("strides", {2, 1}), attr_s("auto_pad", "SAME_LOWER")}},
      {"with Indices", {2, 2, 5, 5}, {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {1, 2})}, 12, 2},
      {"with column-major Indices", {1, 2, 4, 5},
       {attr_ints("kernel_shape", {2, 2}), attr_i("storage_order", 1)}, 12, 2},
      {"opset 1", {1, 2, 4, 4}, {attr_ints("kernel_shape", {2, 2}), attr_ints("pads", {1, 1, 0, 0})}, 1},
      {"opset 8 with Indices", {1, 2, 4, 4},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1})}, 8, 2},
      {"1-D", {2, 3, 9}, {attr_ints("kernel_shape", {3}), attr_ints("strides", {2}), attr_ints("pads", {1, 1})}},
      {"3-D", {1, 2, 4, 4, 5},
       {attr_ints("kernel_shape", {2, 2, 3}), attr_ints("strides", {2, 1, 2}), attr_ints("pads", {0, 1, 1, 1, 0, 1})}},
  };
  uint64_t seed = 40;
  for (const PoolCase& c : cases) {
    INFO(c.what);
    CHECK(check_pool("MaxPool", c, seed += 7) == "");
  }
}

TEST_CASE("AveragePool gradients match finite differences", "[gradcheck][pool]") {
  const std::vector<PoolCase> cases = {
      {"2-D 2x2 stride 2", {2, 3, 4, 6}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}},
      {"pads excluded", {1, 2, 5, 5}, {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1})}},
      {"pads included", {1, 2, 5, 5},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1}), attr_i("count_include_pad", 1)}},
      {"asymmetric pads, stride 2, included", {1, 2, 6, 5},
       {attr_ints("kernel_shape", {3, 2}), attr_ints("strides", {2, 2}), attr_ints("pads", {2, 0, 0, 1}),
        attr_i("count_include_pad", 1)}},
      {"ceil_mode excluded", {1, 2, 6, 7},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_i("ceil_mode", 1)}, 10},
      // A ceil_mode window that overhangs the end pad: the divisor is still the whole kernel.
      {"ceil_mode included", {1, 1, 5, 6},
       {attr_ints("kernel_shape", {2, 3}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1}),
        attr_i("ceil_mode", 1),
        attr_i("count_include_pad", 1)}, 10},
      {"ceil_mode with pads excluded", {1, 1, 5, 6},
       {attr_ints("kernel_shape", {2, 3}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1}),
        attr_i("ceil_mode", 1)}, 22},
      {"dilations", {1, 2, 7, 7},
       {attr_ints("kernel_shape", {2, 3}), attr_ints("dilations", {2, 2}), attr_ints("pads", {1, 1, 0, 1})}, 19},
      {"SAME_UPPER", {1, 2, 5, 5},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_s("auto_pad", "SAME_UPPER")}},
      {"SAME_LOWER included", {1, 2, 5, 4},
       {attr_ints("kernel_shape", {2, 3}), attr_ints("strides", {2, 1}), attr_s("auto_pad", "SAME_LOWER"),
        attr_i("count_include_pad", 1)}},
      {"opset 1", {1, 2, 4, 4}, {attr_ints("kernel_shape", {2, 2}), attr_ints("pads", {1, 1, 0, 0})}, 1},
      {"opset 7 included", {1, 2, 4, 4},
       {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1}), attr_i("count_include_pad", 1)}, 7},
      {"1-D", {2, 3, 9}, {attr_ints("kernel_shape", {3}), attr_ints("strides", {2}), attr_ints("pads", {1, 1})}},
      {"3-D included", {1, 2, 4, 4, 5},
       {attr_ints("kernel_shape", {2, 2, 3}), attr_ints("strides", {2, 1, 2}), attr_ints("pads", {0, 1, 1, 1, 0, 1}),
        attr_i("count_include_pad", 1)}},
  };
  uint64_t seed = 240;
  for (const PoolCase& c : cases) {
    INFO(c.what);
    CHECK(check_pool("AveragePool", c, seed += 7) == "");
  }
}

TEST_CASE("Global pool gradients match finite differences", "[gradcheck][pool]") {
  const std::vector<Ints> shapes = {{2, 3, 4, 5}, {2, 3, 7}, {1, 2, 3, 2, 4}, {2, 3, 1, 1}};
  uint64_t seed = 440;
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    for (const Ints& s : shapes) {
      INFO(op << " " << ir::shape_to_string(s));
      CHECK(check_pool(op, {op, s, {}}, seed += 7) == "");
    }
  }
}

TEST_CASE("MaxPool backward sends ties to the position the forward's Indices name", "[gradcheck][pool]") {
  // Every window of a constant plane ties; the forward picks the first tap inside the input.
  Tensor x(DType::kFloat, {1, 1, 4, 4});
  for (float& v : x.mutable_values<float>()) v = 1.0f;
  kernels::PoolAttrs a;
  a.kernel = {2, 2};
  a.strides = {2, 2};
  a.pads = {1, 1, 1, 1};
  const kernels::PoolGeometry g = kernels::pool_geometry(a, x.shape(), "test");
  kernels::ThreadPool pool(2);
  kernels::PoolReduce r;
  r.kind = kernels::PoolKind::kMax;
  r.want_indices = true;
  const std::vector<Tensor> fwd = kernels::pool_forward_cpu(pool, x, g, r, "test");
  Tensor dy(DType::kFloat, fwd[0].shape());
  for (int64_t i = 0; i < dy.numel(); ++i) dy.mutable_values<float>()[i] = static_cast<float>(i + 1);
  const Tensor dx = kernels::max_pool_backward_cpu(pool, dy, fwd[1], x.shape(), "test");
  std::vector<float> expected(16, 0.0f);
  for (int64_t i = 0; i < dy.numel(); ++i) expected[fwd[1].values<int64_t>()[i]] += dy.values<float>()[i];
  CHECK(std::vector<float>(dx.values<float>().begin(), dx.values<float>().end()) == expected);
  // Window (0, 0) covers only x[0, 0]; window (1, 1) covers x[1..2, 1..2] and picks x[1, 1].
  CHECK(dx.values<float>()[0] == 1.0f);
  CHECK(dx.values<float>()[5] == 5.0f);
}
