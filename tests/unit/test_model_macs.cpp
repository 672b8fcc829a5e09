// kernels/exec/model_macs: the symbolic batch counts as 1, other unknown dims leave MACs unknown
// until --input-shape fixes them, and the model's recorded types come back unchanged.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/exec/model_macs.h"

using namespace scalec::ir;
using scalec::kernels::model_macs;

namespace {
// x float[N, 3, height, width] -> Conv 8x3x3x3 (pads 1) -> GlobalAveragePool -> Flatten -> Gemm [8, 10].
Model conv_model(std::vector<Dim> x_dims) {
  Model m;
  m.ir_version = 8;
  m.opset_imports = {{"", 13}};
  m.graph = std::make_unique<Graph>("main");
  GraphBuilder b(*m.graph);
  Value* x = b.input("x", DType::kFloat, std::move(x_dims));
  Value* w = b.initializer("w", Tensor(DType::kFloat, {8, 3, 3, 3}));
  Value* c = b.op("Conv", {x, w}, {GraphBuilder::attr("pads", std::vector<int64_t>{1, 1, 1, 1})});
  Value* p = b.op("GlobalAveragePool", {c});
  Value* f = b.op("Flatten", {p});
  Value* fw = b.initializer("fw", Tensor(DType::kFloat, {8, 10}));
  b.output(b.op("Gemm", {f, fw}));
  return m;
}
}  // namespace

TEST_CASE("model_macs counts the symbolic batch as 1 per sample", "[model_macs]") {
  Model m = conv_model({Dim::named("N"), Dim::of(3), Dim::of(16), Dim::of(16)});
  const auto r = model_macs(m);
  REQUIRE(r.macs.has_value());
  CHECK(*r.macs == 16 * 16 * 8 * 3 * 3 * 3 + 8 * 10);  // 55,376
  CHECK(r.counted_nodes == 2);
  CHECK(r.batch == std::vector<std::string>{"N"});
  CHECK(r.unknown_dims.empty());
  // Types recorded before the count are back: the input still says N, the Conv output has none.
  CHECK(m.graph->inputs[0]->type->shape->at(0) == Dim::named("N"));
  CHECK_FALSE(m.graph->nodes()[0]->output(0)->type.has_value());
}

TEST_CASE("model_macs leaves MACs unknown for unknown spatial dims until they are fixed", "[model_macs]") {
  Model m = conv_model({Dim::named("N"), Dim::of(3), Dim::named("height"), Dim::named("width")});
  const auto unknown = model_macs(m);
  CHECK_FALSE(unknown.macs.has_value());
  CHECK(unknown.unknown_nodes == 1);  // the Conv; the Gemm after the pooling is known
  CHECK(unknown.unknown_dims == std::vector<std::string>{"height", "width"});

  const auto fixed = model_macs(m, {{"x", {1, 3, 32, 24}}});
  REQUIRE(fixed.macs.has_value());
  CHECK(*fixed.macs == 32 * 24 * 8 * 27 + 80);  // 165,968
  CHECK(m.graph->inputs[0]->type->shape->at(2) == Dim::named("height"));
}

TEST_CASE("model_macs refuses --input-shape that does not fit the model", "[model_macs]") {
  Model m = conv_model({Dim::named("N"), Dim::of(3), Dim::named("height"), Dim::named("width")});
  auto message = [&](const scalec::kernels::InputShapes& s) {
    try {
      (void)model_macs(m, s);
    } catch (const scalec::Error& e) {
      CHECK(e.code() == scalec::ExitCode::kBadInput);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({{"y", {1, 3, 8, 8}}}) == "--input-shape names 'y', which is not a graph input (inputs: x)");
  CHECK(message({{"x", {1, 3, 8}}}) == "--input-shape x: 3 dims given, the model's input has rank 4");
  CHECK(message({{"x", {1, 4, 8, 8}}}) == "--input-shape x: axis 1 is 3 in the model, not 4");
  CHECK(message({{"x", {8, 3, 8, 8}}}) ==
        "--input-shape x: axis 0 is the batch ('N'), which MACs count per sample: give 1 there");
  CHECK(m.graph->inputs[0]->type->shape->at(0) == Dim::named("N"));
}
