#include "passes/quantize/quant_bias.h"

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/common/quantize_math.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/quant_layers.h"

namespace scalec::passes::quant {

bool quantize_bias(ir::Graph& g, ir::Node* n, float x_scale, const QuantizedWeight& qw) {
  const ir::Tensor* b = float_bias(g, n->input(2));
  if (!b || b->rank() != 1 || qw.block_size > 0) return false;
  auto ws = qw.scale.values<float>();
  const bool per_channel = qw.scale.rank() > 0;
  const int64_t m = b->numel();
  ir::Tensor bs(ir::DType::kFloat, per_channel ? std::vector<int64_t>{m} : std::vector<int64_t>{});
  ir::Tensor bq(ir::DType::kInt32, {m});
  auto bsv = bs.mutable_values<float>();
  auto bqv = bq.mutable_values<int32_t>();
  auto bv = b->values<float>();
  constexpr double kMax = std::numeric_limits<int32_t>::max();
  for (int64_t c = 0; c < m; ++c) {
    const float s = x_scale * ws[per_channel ? static_cast<size_t>(c) % ws.size() : 0];
    if (!(s > 0.0f)) return false;
    const double r = kernels::round_half_even(static_cast<double>(bv[static_cast<size_t>(c)]) / static_cast<double>(s));
    if (std::fabs(r) > kMax) return false;
    if (per_channel) bsv[static_cast<size_t>(c)] = s;
    else bsv[0] = s;
    bqv[static_cast<size_t>(c)] = static_cast<int32_t>(r);
  }
  QuantizedWeight qb;
  qb.q = std::move(bq);
  qb.scale = std::move(bs);
  qb.axis = 0;
  const std::string base = n->input(2)->name();
  n->set_input(2, add_dequantize_weight(g, n, qb, base, false));
  return true;
}

}  // namespace scalec::passes::quant
