// kernels/ops/op_costs: MACs from recorded shapes (symbolic dims are not guessed), and graph totals.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "kernels/device.h"
#include "kernels/ops/op_costs.h"

using namespace scalec::ir;
using scalec::kernels::graph_macs;
using scalec::kernels::is_mac_op;
using scalec::kernels::node_macs;

namespace {
// A value carrying only a recorded type (as value_info gives it).
Value* typed(Graph& g, const std::string& name, std::vector<Dim> dims) {
  Value* v = g.create_value(name);
  v->type = TypeInfo::tensor(DType::kFloat, std::move(dims));
  return v;
}

std::vector<Dim> dims(std::initializer_list<int64_t> ds) {
  std::vector<Dim> out;
  for (int64_t d : ds) out.push_back(Dim::of(d));
  return out;
}

// Conv X float[batch, 8, 16, 16], W [16, 4, 3, 3] group 2, Y [batch, 16, 16, 16].
Node* grouped_conv(Graph& g, GraphBuilder& b, Dim batch = Dim::of(1)) {
  Value* x = b.input("x", DType::kFloat, {batch, Dim::of(8), Dim::of(16), Dim::of(16)});
  Value* w = b.initializer("w", Tensor(DType::kFloat, {16, 4, 3, 3}));
  Value* y = typed(g, "y", {batch, Dim::of(16), Dim::of(16), Dim::of(16)});
  Node* n = g.add_node("Conv", {x, w}, {y});
  n->set_attribute(GraphBuilder::attr("group", int64_t{2}));
  return n;
}
}  // namespace

TEST_CASE("Conv MACs: output elements times the per-group kernel volume", "[op_costs]") {
  Graph g("main");
  GraphBuilder b(g);
  Node* conv = grouped_conv(g, b);
  CHECK(node_macs(*conv) == std::optional<int64_t>(16 * 16 * 16 * 4 * 3 * 3));

  // The same conv with a known batch of 2 costs twice as much.
  Value* x2 = typed(g, "x2", dims({2, 8, 16, 16}));
  Value* y2 = typed(g, "y2", dims({2, 16, 16, 16}));
  Node* batched = g.add_node("Conv", {x2, conv->input(1)}, {y2});
  CHECK(node_macs(*batched) == std::optional<int64_t>(2 * 16 * 16 * 16 * 4 * 3 * 3));
}

TEST_CASE("ConvTranspose MACs scatter each input element over M/group * kernel", "[op_costs]") {
  Graph g("main");
  // X [1, 8, 4, 4], W [8, 3, 2, 2] (C, M/group, kH, kW), Y [1, 3, 8, 8].
  Value* x = typed(g, "x", dims({1, 8, 4, 4}));
  Value* w = typed(g, "w", dims({8, 3, 2, 2}));
  Value* y = typed(g, "y", dims({1, 3, 8, 8}));
  Node* n = g.add_node("ConvTranspose", {x, w}, {y});
  CHECK(node_macs(*n) == std::optional<int64_t>(8 * 4 * 4 * 3 * 2 * 2));
}

TEST_CASE("Gemm and MatMul MACs use the reduced dimension", "[op_costs]") {
  Graph g("main");
  SECTION("Gemm") {
    Value* a = typed(g, "a", dims({5, 7}));  // [M, K]
    Value* bw = typed(g, "b", dims({7, 3}));
    Value* y = typed(g, "y", dims({5, 3}));
    Node* n = g.add_node("Gemm", {a, bw}, {y});
    CHECK(node_macs(*n) == std::optional<int64_t>(5 * 3 * 7));
  }
  SECTION("Gemm with transA") {
    Value* a = typed(g, "a", dims({7, 5}));  // [K, M]
    Value* bw = typed(g, "b", dims({7, 3}));
    Value* y = typed(g, "y", dims({5, 3}));
    Node* n = g.add_node("Gemm", {a, bw}, {y});
    n->set_attribute(GraphBuilder::attr("transA", int64_t{1}));
    CHECK(node_macs(*n) == std::optional<int64_t>(5 * 3 * 7));
  }
  SECTION("batched MatMul") {
    Value* a = typed(g, "a", dims({4, 2, 6, 10}));
    Value* bw = typed(g, "b", dims({4, 2, 10, 3}));
    Value* y = typed(g, "y", dims({4, 2, 6, 3}));
    Node* n = g.add_node("MatMul", {a, bw}, {y});
    CHECK(node_macs(*n) == std::optional<int64_t>(4 * 2 * 6 * 3 * 10));
  }
  SECTION("MatMul by a vector") {
    Value* a = typed(g, "a", dims({6, 10}));
    Value* bw = typed(g, "b", dims({10}));
    Value* y = typed(g, "y", dims({6}));
    Node* n = g.add_node("MatMul", {a, bw}, {y});
    CHECK(node_macs(*n) == std::optional<int64_t>(6 * 10));
  }
  SECTION("a symbolic dim is not guessed (model_macs fixes the batch first)") {
    Value* a = typed(g, "a", {Dim::named("batch"), Dim::of(6), Dim::of(10)});
    Value* bw = typed(g, "b", dims({10, 3}));
    Value* y = typed(g, "y", {Dim::named("batch"), Dim::of(6), Dim::of(3)});
    Node* n = g.add_node("MatMul", {a, bw}, {y});
    CHECK_FALSE(node_macs(*n).has_value());
  }
}

TEST_CASE("LSTM, GRU and RNN MACs: every step's input and recurrent products", "[op_costs]") {
  Graph g("main");
  // X [S=7, N=3, I=5], bidirectional LSTM with H=4: W [2, 16, 5], R [2, 16, 4].
  Value* x = typed(g, "x", dims({7, 3, 5}));
  Value* w = typed(g, "w", dims({2, 16, 5}));
  Value* r = typed(g, "r", dims({2, 16, 4}));
  Node* n = g.add_node("LSTM", {x, w, r}, {typed(g, "y", dims({7, 2, 3, 4}))});
  CHECK(is_mac_op(*n));
  CHECK(node_macs(*n) == std::optional<int64_t>(7 * 3 * 2 * 16 * (5 + 4)));
  // GRU (3 gates), layout 1 (X [N, S, I]): the same product of S and N.
  Value* x1 = typed(g, "x1", dims({3, 7, 5}));
  Value* wg = typed(g, "wg", dims({1, 12, 5}));
  Value* rg = typed(g, "rg", dims({1, 12, 4}));
  CHECK(node_macs(*g.add_node("GRU", {x1, wg, rg}, {g.create_value("yg")})) == std::optional<int64_t>(3 * 7 * 12 * 9));
  // A symbolic batch is not guessed.
  Value* xs = typed(g, "xs", {Dim::of(7), Dim::named("N"), Dim::of(5)});
  CHECK_FALSE(node_macs(*g.add_node("RNN", {xs, wg, rg}, {g.create_value("yr")})).has_value());
}

TEST_CASE("node_macs is nullopt for unknown shapes and non-MAC ops", "[op_costs]") {
  Graph g("main");
  Value* a = typed(g, "a", dims({5, 7}));
  Value* bw = typed(g, "b", dims({7, 3}));
  Value* no_type = g.create_value("y");
  CHECK_FALSE(node_macs(*g.add_node("MatMul", {a, bw}, {no_type})).has_value());
  Value* y_unknown_dim = typed(g, "y2", {Dim::of(5), Dim{}});  // neither value nor name
  CHECK_FALSE(node_macs(*g.add_node("MatMul", {a, bw}, {y_unknown_dim})).has_value());
  Value* y_ok = typed(g, "y3", dims({5, 3}));
  CHECK_FALSE(node_macs(*g.add_node("Relu", {a}, {y_ok})).has_value());
  Value* y_custom = typed(g, "y4", dims({5, 3}));
  CHECK_FALSE(node_macs(*g.add_node("MatMul", {a, bw}, {y_custom}, "com.x")).has_value());
}

TEST_CASE("graph_macs sums counted nodes, subgraphs included, and counts unknown ones", "[op_costs]") {
  Graph g("main");
  GraphBuilder b(g);
  Node* conv = grouped_conv(g, b);
  Value* r = b.op("Relu", {conv->output(0)});  // not a MAC op: neither counted nor unknown
  Value* flat = typed(g, "flat", dims({1, 4096}));
  Value* fw = typed(g, "fw", dims({4096, 10}));
  g.add_node("MatMul", {flat, fw}, {typed(g, "logits", dims({1, 10}))});
  g.add_node("MatMul", {r, fw}, {g.create_value("untyped")});  // unknown output shape

  Node* if_node = g.add_node("If", {b.input("c", DType::kBool, std::vector<int64_t>{})}, {g.create_value("o")});
  auto body = std::make_shared<Graph>("then", &g);
  Value* ia = typed(*body, "ia", dims({2, 3}));
  Value* ib = typed(*body, "ib", dims({3, 4}));
  body->add_node("Gemm", {ia, ib}, {typed(*body, "iy", dims({2, 4}))});
  Attribute a;
  a.name = "then_branch";
  a.kind = Attribute::Kind::kGraph;
  a.g = body;
  if_node->set_attribute(std::move(a));

  auto m = graph_macs(g);
  CHECK(m.counted_nodes == 3);
  CHECK(m.unknown_nodes == 1);
  CHECK(m.macs == 16 * 16 * 16 * 4 * 3 * 3 + 10 * 4096 + 2 * 4 * 3);
}

TEST_CASE("cuda_status is consistent", "[device]") {
  auto s = scalec::kernels::cuda_status();
  CHECK(s.device_count >= 0);
  if (!s.compiled) {
    CHECK(s.device_count == 0);
    CHECK_FALSE(s.message.empty());
  }
}
