// passes/core/coverage: layer and parameter counts, reasons grouped in first-seen order, the
// summary line, the exit-2 message of a run that changed nothing, and the JSON keys.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "ir/error.h"
#include "passes/core/coverage.h"

using scalec::passes::Coverage;

TEST_CASE("coverage counts layers and parameters and groups the layers left by reason", "[passes][coverage]") {
  Coverage c;
  c.add("conv1", 864, false, "first layer kept dense");
  c.add("conv2", 9216, true);
  c.add("dw3", 288, false, "depthwise");
  c.add("conv4", 18432, true);
  c.add("dw5", 576, false, "depthwise");
  c.add("fc", 5120, false, "last layer kept dense");
  c.add_other_params(304);  // biases
  CHECK(c.layers_changed() == 2);
  CHECK(c.layers_total() == 6);
  CHECK(c.params_changed() == 9216 + 18432);
  CHECK(c.params_total() == 864 + 9216 + 288 + 18432 + 576 + 5120 + 304);
  CHECK(c.summary("pruned") == "pruned 2 of 6 layers, 79.4% of weights");  // 27648 / 34800
  REQUIRE(c.left().size() == 3);
  CHECK(c.left()[1].reason == "depthwise");
  CHECK(c.left()[1].count == 2);
  CHECK(c.left()[1].params == 864);
  CHECK(c.reason_lines() == std::vector<std::string>{"1 first layer kept dense: conv1", "2 depthwise: dw3, dw5",
                                                     "1 last layer kept dense: fc"});
  CHECK_NOTHROW(c.throw_if_nothing_changed("pruned"));

  const nlohmann::json j = c.to_json();
  CHECK(j["layers_changed"] == 2);
  CHECK(j["layers_total"] == 6);
  CHECK(j["params_changed"] == 27648);
  CHECK(j["params_total"] == 34800);
  CHECK(j["left"][1]["reason"] == "depthwise");
  CHECK(j["left"][1]["count"] == 2);
  CHECK(j["left"][1]["names"] == nlohmann::json({"dw3", "dw5"}));
}

TEST_CASE("a run that changed nothing is kBadInput with one line per reason", "[passes][coverage]") {
  Coverage c;
  for (const char* n : {"a", "b", "c", "d"}) c.add(n, 10, false, "--skip");
  c.add("lstm", 100, false, "LSTM weights (prune handles Conv, ConvTranspose, Gemm, MatMul)");
  CHECK(c.nothing_changed());
  CHECK(c.reason_lines(3)[0] == "4 --skip: a, b, c, ...");
  try {
    c.throw_if_nothing_changed("pruned");
    FAIL("expected an error");
  } catch (const scalec::Error& e) {
    CHECK(e.code() == scalec::ExitCode::kBadInput);
    CHECK(std::string(e.what()) ==
          "nothing pruned: 0 of 5 layers\n  4 --skip: a, b, c, ...\n"
          "  1 LSTM weights (prune handles Conv, ConvTranspose, Gemm, MatMul): lstm");
  }
  Coverage tensors("weight tensor");
  tensors.add("w", 6, false, "frozen by --freeze '*'");
  CHECK_THROWS_WITH(tensors.throw_if_nothing_changed("to train"),
                    "nothing to train: 0 of 1 weight tensor\n  1 frozen by --freeze '*': w");
}
