#include "passes/convert/bfloat16_weights.h"

#include <algorithm>

#include <fmt/format.h>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/common/quantize_math.h"
#include "passes/convert/float16.h"
#include "passes/quantize/quant_graph.h"

namespace scalec::passes {

namespace {

// Cast(from bfloat16) arrived in opset 13.
constexpr int64_t kBfloat16CastOpset = 13;
// Smaller tensors stay float32: a few bytes saved, exact constants lost.
constexpr int64_t kMinElements = 16;

ir::Tensor to_bfloat16(const ir::Tensor& t) {
  ir::Tensor out(ir::DType::kBFloat16, t.shape());
  auto src = t.values<float>();
  auto dst = out.mutable_values<uint16_t>();
  for (size_t i = 0; i < src.size(); ++i) dst[i] = kernels::float_to_bfloat16(src[i]);
  return out;
}

}  // namespace

std::string Bfloat16Weights::run(ir::Model& model) {
  quant::check_not_quantized(model);
  ir::Graph& g = *model.graph;
  std::vector<ir::Value*> chosen;
  int64_t floats = 0, kept_small = 0, kept_op = 0, bytes = 0;
  for (ir::Value* v : g.initializers) {
    if (v->initializer->dtype() != ir::DType::kFloat || quant::is_graph_input(g, v)) continue;
    ++floats;
    if (v->initializer->numel() < kMinElements) {
      ++kept_small;
      continue;
    }
    const auto& uses = v->uses();
    if (uses.empty() || std::any_of(uses.begin(), uses.end(), [](const ir::Use& u) { return keeps_float32(*u.node); })) {
      ++kept_op;
      continue;
    }
    chosen.push_back(v);
  }
  if (chosen.empty()) {
    throw_bad_input("bfloat16-weights: none of the model's {} float32 weight tensors can be stored in bfloat16 ({} under {} "
                    "elements, {} read by ops kept in float32)",
                    floats, kept_small, kMinElements, kept_op);
  }
  quant::require_opset(model, kBfloat16CastOpset, "a Cast from bfloat16");
  for (ir::Value* v : chosen) {
    ir::Value* stored = g.add_initializer(g.unique_name(v->name() + "_bfloat16"), to_bfloat16(*v->initializer));
    bytes += v->initializer->numel() * 2;
    g.initializers.erase(std::remove(g.initializers.begin(), g.initializers.end(), v), g.initializers.end());
    v->initializer.reset();
    ir::Node* cast = g.add_node("Cast", {stored}, {v});  // writes the weight's own value: readers stay
    cast->name = g.unique_name(v->name() + "_Cast");
    cast->set_attribute(ir::GraphBuilder::attr("to", static_cast<int64_t>(ir::DType::kFloat)));
  }
  g.sort_topologically();
  return fmt::format("bfloat16-weights: {} of {} float32 weight tensors stored in bfloat16 ({:.1f} KB saved), compute in float32",
                     chosen.size(), floats, static_cast<double>(bytes) / 1e3);
}

}  // namespace scalec::passes
