// ir/weight_slots: the one table of where layer ops keep their weights and what the axes mean.
#include <catch2/catch.hpp>

#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "ir/weight_slots.h"

using namespace scalec::ir;

namespace {
std::optional<WeightSlot> slot_of(const std::string& op, int64_t rank, int64_t trans_b = -1, const std::string& domain = {}) {
  static Graph g("main");
  Node* n = g.add_node(op, {}, {g.create_value(g.unique_name("y"))}, domain);
  if (trans_b >= 0) n->set_attribute(GraphBuilder::attr("transB", trans_b));
  return weight_slot(*n, rank);
}
}  // namespace

TEST_CASE("weight_slot: input, output-channel and summed axes of each layer op", "[weight_slots]") {
  auto conv = slot_of("Conv", 4);  // W [M, C/g, kh, kw]
  REQUIRE(conv);
  CHECK((conv->input == 1 && conv->out_axis == 0 && conv->in_axis == 1 && conv->conv && !conv->transposed));
  auto convt = slot_of("ConvTranspose", 4);  // W [C, M/g, kh, kw]
  REQUIRE(convt);
  CHECK((convt->out_axis == 1 && convt->in_axis == 0 && convt->conv && convt->transposed));
  auto gemm = slot_of("Gemm", 2);  // B [K, N]
  REQUIRE(gemm);
  CHECK((gemm->out_axis == 1 && gemm->in_axis == 0 && !gemm->conv));
  auto gemm_t = slot_of("Gemm", 2, 1);  // B [N, K]
  REQUIRE(gemm_t);
  CHECK((gemm_t->out_axis == 0 && gemm_t->in_axis == 1));
  auto matmul = slot_of("MatMul", 3);  // B [batch, K, N]
  REQUIRE(matmul);
  CHECK((matmul->out_axis == 2 && matmul->in_axis == 1));
  CHECK(slot_of("QLinearConv", 4)->input == 3);
  CHECK(slot_of("QLinearMatMul", 2)->input == 3);
  CHECK(slot_of("MatMulInteger", 2)->input == 1);
  CHECK_FALSE(slot_of("MatMul", 1));               // a vector has no channel axis
  CHECK_FALSE(slot_of("Relu", 2));
  CHECK_FALSE(slot_of("Conv", 4, -1, "com.x"));   // another domain's Conv is not ONNX's
}
