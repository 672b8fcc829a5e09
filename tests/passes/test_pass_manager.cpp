// The pass manager and pipeline text (passes/core): LLVM-style `name<key=value;...>` text parses and
// prints back unchanged, every registered pass round-trips its options, the PassManager runs passes
// in order and catches a pass that breaks the model, and the quantize stage expands as documented.
#include <catch2/catch.hpp>

#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pass_text.h"
#include "passes/pass_registry.h"
#include "passes/quantize/quantize_pipeline.h"
#include "support/test_support.h"

using namespace scalec;

namespace {

ir::Model lenet() {
  return onnx_io::load_model((test::source_dir() / "test_models" / "lenet_digits.onnx").string());
}

std::vector<std::string> names_of(const std::string& text) {
  std::vector<std::string> out;
  for (const passes::PassSpec& s : passes::parse_pipeline(text)) out.push_back(s.name);
  return out;
}

// Leaves a node reading a value nothing defines.
class BreakingPass final : public passes::Pass {
 public:
  std::string name() const override { return "break-it"; }
  std::string run(ir::Model& model) override {
    ir::Graph& g = *model.graph;
    g.nodes().front()->set_input(0, g.create_value("nowhere"));
    return "break-it: done";
  }
};

}  // namespace

TEST_CASE("pipeline text parses names, options in order, list values and bare flags", "[passes][pipeline]") {
  const auto specs = passes::parse_pipeline(" prune<sparsity=0.5; skip=conv1,conv2>, fold-batchnorm ,quantize<gptq;bits=4>");
  REQUIRE(specs.size() == 3);
  CHECK(specs[0].name == "prune");
  REQUIRE(specs[0].options.size() == 2);
  CHECK(specs[0].options[0] == std::make_pair(std::string("sparsity"), std::string("0.5")));
  CHECK(specs[0].options[1] == std::make_pair(std::string("skip"), std::string("conv1,conv2")));
  CHECK(passes::split_list_value(specs[0].options[1].second) == std::vector<std::string>{"conv1", "conv2"});
  CHECK(specs[1].name == "fold-batchnorm");
  CHECK(specs[1].options.empty());
  CHECK(specs[2].options[0] == std::make_pair(std::string("gptq"), std::string("true")));
  CHECK(passes::print_pipeline(specs) == "prune<sparsity=0.5;skip=conv1,conv2>,fold-batchnorm,quantize<gptq=true;bits=4>");
}

TEST_CASE("pipeline text errors are usage errors naming the position", "[passes][pipeline]") {
  for (const char* bad : {"", "quantize<bits=8", "a,,b", "a,", "a<=3>", "a b", "a<x y=1>"}) {
    INFO(bad);
    try {
      passes::parse_pipeline(bad);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kUsage);
      CHECK(std::string(e.what()).find("character") != std::string::npos);
    }
  }
}

TEST_CASE("every registered pass prints options that parse back to the same pass", "[passes][pipeline]") {
  const std::vector<std::string> names = passes::registered_pass_names();
  CHECK(names.size() >= 12);
  for (const std::string& name : names) {
    INFO(name);
    const std::string text = passes::create_pass({name, {}})->text();
    const auto specs = passes::parse_pipeline(text);
    REQUIRE(specs.size() == 1);
    CHECK(passes::create_pass(specs[0])->text() == text);
  }
  // Options that are not the defaults survive the round trip.
  const std::string qdq = "quantize-qdq<bits=4;granularity=per-tensor;block=0;symmetric=false;layer-bits=a=8,b=3;exclude-nodes=a,b;"
                          "keep-io-float=true;recurrent-bits=6;act-symmetric=true;method=minmax;percentile=99.9>";
  CHECK(passes::create_pass(passes::parse_pipeline(qdq)[0])->text() == qdq);
  const std::string prune = "prune-magnitude<sparsity=0.75;global=true;layer-sparsity=fc=0.25;skip=conv*;prune-first=true;prune-last=false>";
  CHECK(passes::create_pass(passes::parse_pipeline(prune)[0])->text() == prune);
}

TEST_CASE("a pass refuses an unknown option or a value of the wrong type by name", "[passes][pipeline]") {
  auto message = [](const std::string& text) {
    try {
      passes::create_pass(passes::parse_pipeline(text)[0]);
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kUsage);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(message("quantize-qdq<bitz=4>").find("unknown option 'bitz'") != std::string::npos);
  CHECK(message("quantize-qdq<bitz=4>").find("method") != std::string::npos);  // lists the known keys
  CHECK(message("quantize-qdq<bits=four>").find("bits=four is not an integer") != std::string::npos);
  CHECK(message("quantize-qdq<granularity=rows>").find("granularity=rows") != std::string::npos);
  CHECK(message("quantize-qdq<layer-bits=conv1>").find("is not a list of NAME=INTEGER") != std::string::npos);
  CHECK(message("quantize-qdq<layer-bits=conv1=eight>").find("is not a list of NAME=INTEGER") != std::string::npos);
  CHECK(message("fold-batchnorm<x=1>").find("takes no options") != std::string::npos);
  CHECK(message("squash").find("unknown pass 'squash'") != std::string::npos);
  CHECK(message("prune-n-m<n=4;m=4>").find("0 < n < m") != std::string::npos);
}

TEST_CASE("the quantize stage expands as documented, with and without calibration data", "[passes][pipeline]") {
  passes::QuantizeSettings s;
  auto expand = [&](bool calib) {
    passes::PassManager pm;
    passes::build_quantize_pipeline(s, calib, pm);
    return names_of(pm.pipeline_text());
  };
  CHECK(expand(true) == std::vector<std::string>{"fold-batchnorm", "bias-correction", "quantize-qdq"});
  CHECK(expand(false) == std::vector<std::string>{"fold-batchnorm", "gemm-to-matmul", "quantize-dynamic", "quantize-weight-only"});
  s.bits = 4;
  CHECK(expand(false) == std::vector<std::string>{"fold-batchnorm", "quantize-weight-only"});
  s.bits = 8;
  s.gptq = true;
  s.equalize = true;
  CHECK(expand(true) == std::vector<std::string>{"fold-batchnorm", "equalize", "gptq", "bias-correction", "quantize-qdq"});
  CHECK_THROWS_AS(expand(false), Error);  // GPTQ needs calibration data
  s = {};
  s.format = "qdq";
  try {
    expand(false);
    FAIL("qdq without calibration data was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kUsage);
  }
}

TEST_CASE("per-layer bits reach the stored weights and the pipeline text; formats that ignore them refuse them", "[passes][pipeline]") {
  const ir::Model m = lenet();
  ir::Tensor images;  // the bundled digits: all 360 samples in one calibration batch
  for (const auto& [name, t] : onnx_io::read_npz((test::source_dir() / "test_models" / "digits_val.npz").string())) {
    if (name == "input") images = t;
  }
  REQUIRE(images.rank() == 4);
  passes::QuantizeSettings s;
  s.bits = 2;
  std::string conv;
  for (const auto& node : m.graph->nodes()) {
    if (node->op_type() == "Conv" && conv.empty()) conv = node->name;
  }
  s.layer_bits = {{conv, 8}};
  passes::PassManager pm;
  passes::build_quantize_pipeline(s, true, pm);
  // 8 is stored in 7 bits (--reduce-range) like --bits 8; bias correction uses the same bits.
  CHECK(pm.pipeline_text().find("layer-bits=" + conv + "=7") != std::string::npos);
  passes::PassContext ctx;
  ctx.calib = {images.shape()[0], [&](int64_t, int64_t) { return kernels::NamedTensors{{"input", images}}; }};
  ctx.calib_batch = images.shape()[0];
  ctx.verify_each = true;
  ir::Model q = onnx_io::load_model_from_bytes(onnx_io::serialize_model(m), ".", "lenet");
  pm.run(q, ctx);
  // The widest weight integer per layer: 2-bit layers stay within [-2, 1], the promoted one uses 7 bits.
  int64_t wide = 0, narrow = 0;
  for (const auto& node : q.graph->nodes()) {
    if (node->op_type() != "Conv" && node->op_type() != "Gemm") continue;
    const ir::Node* dq = node->input(1)->producer();
    REQUIRE(dq);
    REQUIRE(dq->op_type() == "DequantizeLinear");
    const ir::Tensor& w = *dq->input(0)->initializer;
    int64_t largest = 0;
    for (int64_t i = 0; i < w.numel(); ++i) largest = std::max<int64_t>(largest, std::abs(static_cast<int64_t>(w.element_as_double(i))));
    int64_t& slot = node->name == conv ? wide : narrow;
    slot = std::max(slot, largest);
  }
  CHECK(wide > 32);
  CHECK(narrow <= 2);
  s.format = "dynamic";
  passes::PassManager refused;
  CHECK_THROWS_AS(passes::build_quantize_pipeline(s, true, refused), Error);
}

TEST_CASE("dynamic MatMul and weight-only Conv together cover every layer once", "[passes][pipeline]") {
  ir::Model m = lenet();
  passes::QuantizeSettings s;
  passes::PassManager pm;
  passes::build_quantize_pipeline(s, false, pm);
  passes::PassContext ctx;
  ctx.verify_each = true;
  const std::vector<passes::PassRun> runs = pm.run(m, ctx);
  REQUIRE(runs.size() == 4);
  for (const passes::PassRun& r : runs) CHECK(r.seconds >= 0);
  const passes::QuantizeState& st = ctx.state<passes::QuantizeState>();
  CHECK(st.ran);
  CHECK(st.report.coverage.layers_total() == 4);
  CHECK(st.report.coverage.layers_changed() == 4);
  int dequantize = 0, matmul_integer = 0;
  for (const auto& n : m.graph->nodes()) {
    dequantize += n->op_type() == "DequantizeLinear";
    matmul_integer += n->op_type() == "MatMulInteger";
  }
  CHECK(matmul_integer == 2);
  CHECK(dequantize == 2);  // the two Conv weights
}

TEST_CASE("the pass manager verifies after each pass and names the pass that broke the model", "[passes][pipeline]") {
  ir::Model m = lenet();
  passes::PassManager pm;
  pm.add(passes::create_pass({"fold-batchnorm", {}}));
  pm.add(std::make_unique<BreakingPass>());
  CHECK(pm.pipeline_text() == "fold-batchnorm,break-it");
  passes::PassContext ctx;
  ctx.verify_each = true;
  try {
    pm.run(m, ctx);
    FAIL("a broken model passed verification");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kInternal);
    CHECK(std::string(e.what()).find("after pass break-it") != std::string::npos);
  }
  ir::Model m2 = lenet();
  passes::PassContext quiet;  // without verify_each the same pipeline runs through
  CHECK(pm.run(m2, quiet).size() == 2);
}

TEST_CASE("calibrating passes say they need calibration data", "[passes][pipeline]") {
  ir::Model m = lenet();
  passes::PassManager pm;
  pm.add(passes::create_pass(passes::parse_pipeline("quantize-qdq<bits=8>")[0]));
  passes::PassContext ctx;
  try {
    pm.run(m, ctx);
    FAIL("ran without data");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kUsage);
    CHECK(std::string(e.what()).find("quantize-qdq needs calibration data") != std::string::npos);
  }
}
