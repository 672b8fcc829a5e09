#include "passes/pass_registry.h"

#include <algorithm>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "ir/error.h"
#include "passes/cleanup/remove_dropout.h"
#include "passes/cleanup/share_initializers.h"
#include "passes/convert/bfloat16_weights.h"
#include "passes/convert/float16.h"
#include "passes/core/opset_upgrade.h"
#include "passes/core/pass_options.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/prune/channel_prune.h"
#include "passes/prune/magnitude_prune.h"
#include "passes/quantize/equalize.h"
#include "passes/quantize/gemm_to_matmul.h"
#include "passes/quantize/quantize_pipeline.h"

namespace scalec::passes {

namespace {

using Factory = std::function<std::unique_ptr<Pass>(const PassSpec&)>;

std::map<std::string, double> per_layer(const std::string& pass, const std::vector<std::string>& items);

std::unique_ptr<Pass> magnitude_prune(const PassSpec& spec, bool n_m) {
  MagnitudePruneOptions o;
  std::vector<std::string> layer_sparsity;
  OptionFields f;
  if (n_m) f.add("n", o.n).add("m", o.m);
  else f.add("sparsity", o.sparsity).add("global", o.global);
  f.add("layer-sparsity", layer_sparsity).add("skip", o.skip).add("prune-first", o.prune_first).add("prune-last", o.prune_last);
  if (n_m) {
    o.n = 2;
    o.m = 4;
  }
  f.parse(spec);
  if (n_m && !(o.n > 0 && o.n < o.m)) throw Error(ExitCode::kUsage, fmt::format("{}: expected 0 < n < m", spec.name));
  if (!(o.sparsity >= 0 && o.sparsity < 1)) throw Error(ExitCode::kUsage, fmt::format("{}: sparsity must be in [0, 1)", spec.name));
  o.overrides = per_layer(spec.name, layer_sparsity);
  return std::make_unique<MagnitudePrune>(o);
}

// "NAME=R" items (layer-sparsity) into a map; Error(kUsage) naming the pass otherwise.
std::map<std::string, double> per_layer(const std::string& pass, const std::vector<std::string>& items) {
  std::map<std::string, double> out;
  for (const std::string& item : items) {
    const size_t eq = item.rfind('=');
    char* end = nullptr;
    const double s = eq == std::string::npos ? -1 : std::strtod(item.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || *end != '\0' || !(s >= 0 && s < 1)) {
      throw Error(ExitCode::kUsage, fmt::format("{}: layer-sparsity '{}': expected NAME=S with 0 <= S < 1", pass, item));
    }
    out[item.substr(0, eq)] = s;
  }
  return out;
}

std::unique_ptr<Pass> channel_prune(const PassSpec& spec) {
  ChannelPruneOptions o;
  std::string round_to = "auto";
  std::vector<std::string> layer_sparsity;
  OptionFields().add("sparsity", o.ratio).add("round-to", round_to).add("layer-sparsity", layer_sparsity)
      .add("skip", o.skip).parse(spec);
  if (!(o.ratio >= 0 && o.ratio < 1)) throw Error(ExitCode::kUsage, "prune-channels: sparsity must be in [0, 1)");
  if (round_to != "auto") {
    char* end = nullptr;
    const long long n = std::strtoll(round_to.c_str(), &end, 10);
    if (*end != '\0' || n < 1) throw Error(ExitCode::kUsage, fmt::format("prune-channels: round-to is auto or a positive integer, got '{}'", round_to));
    o.round_to = n;
  }
  o.overrides = per_layer(spec.name, layer_sparsity);
  return std::make_unique<ChannelPrune>(o);
}

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table = {
      {"fold-batchnorm",
       [](const PassSpec& s) {
         OptionFields().parse(s);
         return std::make_unique<FoldBatchNorm>();
       }},
      {"convert-float",
       [](const PassSpec& s) {
         bool keep_io = true;
         OptionFields().add("keep-io", keep_io).parse(s);
         return std::make_unique<ConvertFloat>(keep_io);
       }},
      {"bfloat16-weights",
       [](const PassSpec& s) {
         OptionFields().parse(s);
         return std::make_unique<Bfloat16Weights>();
       }},
      {"remove-dropout",
       [](const PassSpec& s) {
         OptionFields().parse(s);
         return std::make_unique<RemoveDropout>();
       }},
      {"equalize",
       [](const PassSpec& s) {
         std::set<std::string> exclude;
         OptionFields().add("exclude-nodes", exclude).parse(s);
         return std::make_unique<CrossLayerEqualization>(exclude);
       }},
      {"gemm-to-matmul",
       [](const PassSpec& s) {
         std::set<std::string> nodes, ops;
         bool io = false;
         OptionFields().add("exclude-nodes", nodes).add("exclude-ops", ops).add("keep-io-float", io).parse(s);
         return std::make_unique<GemmToMatMul>(nodes, ops, io);
       }},
      {"upgrade-opset",
       [](const PassSpec& s) {
         int64_t opset = 21;
         OptionFields().add("opset", opset).parse(s);
         if (opset < 7 || opset > 22) throw Error(ExitCode::kUsage, fmt::format("upgrade-opset: opset must be in 7..22, got {}", opset));
         return std::make_unique<UpgradeOpset>(opset);
       }},
      {"prune-channels", channel_prune},
      {"share-initializers",
       [](const PassSpec& s) {
         OptionFields().parse(s);
         return std::make_unique<ShareInitializers>();
       }},
      {"prune-magnitude", [](const PassSpec& s) { return magnitude_prune(s, false); }},
      {"prune-n-m", [](const PassSpec& s) { return magnitude_prune(s, true); }},
  };
  return table;
}

const std::vector<std::string> kQuantizePasses = {"bias-correction", "gptq", "quantize-dynamic", "quantize-qdq",
                                                  "quantize-qoperator", "quantize-weight-only"};

}  // namespace

std::unique_ptr<Pass> create_pass(const PassSpec& spec) {
  if (auto it = factories().find(spec.name); it != factories().end()) return it->second(spec);
  if (std::unique_ptr<Pass> p = create_quantize_pass(spec)) return p;
  std::string known;
  for (const std::string& n : registered_pass_names()) known.append(known.empty() ? "" : ", ").append(n);
  throw Error(ExitCode::kUsage, fmt::format("unknown pass '{}' (passes: {})", spec.name, known));
}

std::vector<std::string> registered_pass_names() {
  std::vector<std::string> names = kQuantizePasses;
  for (const auto& [name, f] : factories()) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace scalec::passes
