// convert-float (--format fp16): every float32 weight and value becomes float16, the model stays
// valid, inputs and outputs keep float32 through Casts, and the normalizations run in float32
// between Casts. (Numerics are checked in ONNX Runtime by tests/py/test_fp16.py: scalec's runtime
// has no float16 kernels.)
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "ir/verifier.h"
#include "onnx_io/model_io.h"
#include "passes/convert/float16.h"
#include "support/test_support.h"

using namespace scalec;

namespace {

ir::Model bundled(const char* name) {
  return onnx_io::load_model((test::source_dir() / "test_models" / name).string());
}

int count_op(const ir::Model& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph->nodes()) n += node->op_type() == op;
  return n;
}

}  // namespace

TEST_CASE("convert-float turns weights to float16 and keeps float32 at the edges", "[passes][convert]") {
  ir::Model m = bundled("lenet_digits.onnx");
  const size_t nodes = m.graph->nodes().size();
  const std::string summary = passes::ConvertFloat(true).run(m);
  CHECK(summary.find("8 weights") != std::string::npos);
  CHECK(ir::verify(m).ok());
  for (const ir::Value* v : m.graph->initializers) CHECK(v->initializer->dtype() == ir::DType::kFloat16);
  for (const ir::Value* v : m.graph->inputs) CHECK(v->type->dtype() == ir::DType::kFloat);
  for (const ir::Value* v : m.graph->outputs) {
    CHECK(v->type->dtype() == ir::DType::kFloat);
    CHECK(v->producer()->op_type() == "Cast");
  }
  CHECK(m.graph->nodes().size() == nodes + 2);  // one Cast after the input, one before the output
  CHECK(count_op(m, "Cast") == 2);
  CHECK(m.graph->outputs.front()->name() == "logits");  // names kept
}

TEST_CASE("convert-float runs the normalizations in float32 between Casts", "[passes][convert]") {
  ir::Model m = bundled("transformer_block.onnx");
  const int norms = count_op(m, "LayerNormalization");
  REQUIRE(norms > 0);
  const std::string summary = passes::ConvertFloat(false).run(m);
  CHECK(summary.find("LayerNormalization x" + std::to_string(norms)) != std::string::npos);
  CHECK(ir::verify(m).ok());
  for (const auto& n : m.graph->nodes()) {
    if (n->op_type() != "LayerNormalization") continue;
    CHECK(n->input(0)->producer()->op_type() == "Cast");  // float32 in
    for (const ir::Use& u : n->output(0)->uses()) CHECK(u.node->op_type() == "Cast");  // float16 out
    // Its scale and bias are read only by it: they stay float32.
    CHECK(n->input(1)->initializer->dtype() == ir::DType::kFloat);
  }
}

TEST_CASE("convert-float refuses a model that is float16 already", "[passes][convert]") {
  ir::Model m = bundled("lenet_digits.onnx");
  passes::ConvertFloat(true).run(m);
  try {
    passes::ConvertFloat(true).run(m);
    FAIL("converted twice");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK(std::string(e.what()).find("float16 already") != std::string::npos);
  }
}
