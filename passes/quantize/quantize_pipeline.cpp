#include "passes/quantize/quantize_pipeline.h"

#include <fmt/format.h>

#include "ir/error.h"
#include "passes/core/pass_options.h"
#include "passes/convert/bfloat16_weights.h"
#include "passes/convert/float16.h"
#include "passes/fuse/fold_batchnorm.h"
#include "passes/quantize/bias_correction.h"
#include "passes/quantize/dynamic_pass.h"
#include "passes/quantize/equalize.h"
#include "passes/quantize/gemm_to_matmul.h"
#include "passes/quantize/qoperator_pass.h"
#include "passes/quantize/weight_only_pass.h"

namespace scalec::passes {

namespace {

// The weight quantization and the layers a pass touches, as pipeline text keys.
struct LayerWeights {
  int bits = 8;
  std::string granularity = "per-channel";  // per-tensor, per-channel or block
  int64_t block = 0;
  bool symmetric = true;
  std::set<std::string> exclude_nodes, exclude_ops, only_ops;
  std::map<std::string, int> layer_bits;  // node name -> weight bits (mixed precision)
  bool keep_io_float = false;
  int recurrent_bits = 8;  // LSTM/GRU/RNN weights stored weight-only (the integer passes' key)

  void bind(OptionFields& f) {
    f.add("bits", bits).add("granularity", granularity).add("block", block).add("symmetric", symmetric);
    f.add("layer-bits", layer_bits);
    f.add("exclude-nodes", exclude_nodes).add("exclude-ops", exclude_ops).add("only-ops", only_ops);
    f.add("keep-io-float", keep_io_float);
  }

  quant::WeightQuantOptions weights() const {
    quant::WeightQuantOptions w;
    w.bits = bits;
    w.symmetric = symmetric;
    if (granularity == "per-tensor") w.granularity = quant::Granularity::kPerTensor;
    else if (granularity == "per-channel") w.granularity = quant::Granularity::kPerChannel;
    else if (granularity == "block") w.granularity = quant::Granularity::kBlock;
    else throw Error(ExitCode::kUsage, fmt::format("granularity={}: expected per-tensor, per-channel or block", granularity));
    if (w.granularity == quant::Granularity::kBlock) {
      if (block < 2) throw Error(ExitCode::kUsage, fmt::format("granularity=block needs block >= 2, got {}", block));
      w.block_size = block;
    }
    return w;
  }

  QdqOptions qdq() const {
    QdqOptions q;
    q.weights = weights();
    q.recurrent_bits = recurrent_bits;
    q.exclude_nodes = exclude_nodes;
    q.layer_bits = layer_bits;
    q.exclude_ops = exclude_ops;
    q.only_ops = only_ops;
    q.keep_io_float = keep_io_float;
    return q;
  }
};

// A quantization pass of the pipeline: LayerWeights plus its own keys, printed and parsed alike.
class StagePass : public Pass {
 public:
  std::string options_text() const override {
    OptionFields f;
    const_cast<StagePass*>(this)->bind(f);  // binding only reads here: print() copies the values out
    return f.print();
  }
  void parse(const PassSpec& spec) {
    OptionFields f;
    bind(f);
    f.parse(spec);
    (void)lw.weights();  // a bad granularity is refused before the run
  }
  std::string run(ir::Model&) override { throw_internal("{} reads calibration data: run it through a PassManager", name()); }
  /// Error(kUsage) when layer-bits is set on a pass that cannot honour it.
  void refuse_layer_bits() const {
    if (!lw.layer_bits.empty()) throw Error(ExitCode::kUsage, fmt::format("{} does not take layer-bits (per-layer weight bits)", name()));
  }
  LayerWeights lw;

 protected:
  virtual void bind(OptionFields& f) { lw.bind(f); }
  static void merge(QuantizeState& st, const QuantReport& r) {
    st.ran = true;
    st.report.quantized.insert(st.report.quantized.end(), r.quantized.begin(), r.quantized.end());
    st.report.left_float.insert(st.report.left_float.end(), r.left_float.begin(), r.left_float.end());
    st.report.coverage.merge(r.coverage);
    st.report.weights_quantized += r.weights_quantized;
    st.report.activations_quantized += r.activations_quantized;
  }
  void need_calibration(const PassContext& ctx) const {
    if (ctx.calib.samples == 0) throw Error(ExitCode::kUsage, fmt::format("{} needs calibration data (--calib PATH)", name()));
  }
};

class GptqPass final : public StagePass {
 public:
  std::string name() const override { return "gptq"; }
  GptqOptions options;
  int64_t memory_mb = 1024;

  std::string apply(ir::Model& model, PassContext& ctx) override {
    need_calibration(ctx);
    refuse_layer_bits();  // GPTQ's weights would all be at `bits`
    const GptqTarget target{lw.weights(), lw.exclude_nodes, lw.exclude_ops, lw.keep_io_float};
    GptqOptions o = options;
    o.hessian_budget_bytes = static_cast<size_t>(memory_mb) * 1000 * 1000;
    calibration::CalibrationOptions co;
    co.batch = ctx.calib_batch;
    co.threads = ctx.threads;
    const GptqReport gr = run_gptq(model, target, ctx.calib, co, o, ctx.state<QuantizeState>().prequantized);
    nlohmann::json layers = nlohmann::json::array(), skipped = nlohmann::json::array();
    for (const auto& l : gr.layers) {
      layers.push_back({{"node", l.node}, {"weight", l.weight}, {"rtn_error", l.rtn_error}, {"gptq_error", l.gptq_error}});
    }
    for (const auto& [node, why] : gr.skipped) skipped.push_back({{"node", node}, {"reason", why}});
    ctx.report["gptq"] = {{"samples", gr.samples}, {"hessian_bytes", gr.hessian_bytes}, {"calibration_passes", gr.passes},
                          {"layers", layers}, {"round_to_nearest", skipped}};
    return gr.summary();
  }

 protected:
  void bind(OptionFields& f) override {
    lw.bind(f);
    f.add("damp", options.damp).add("gptq-block", options.block).add("act-order", options.act_order);
    f.add("memory-mb", memory_mb);
  }
};

class BiasCorrectionPass final : public StagePass {
 public:
  std::string name() const override { return "bias-correction"; }
  std::string apply(ir::Model& model, PassContext& ctx) override {
    need_calibration(ctx);
    BiasCorrectionOptions bc;
    bc.weights = lw.weights();
    bc.exclude_nodes = lw.exclude_nodes;
    bc.layer_bits = lw.layer_bits;
    bc.exclude_ops = lw.exclude_ops;
    bc.keep_io_float = lw.keep_io_float;
    bc.prequantized = ctx.state<QuantizeState>().prequantized;
    bc.means = channel_means(model, bias_correction_inputs(model, bc), ctx.calib, ctx.calib_batch, ctx.threads);
    return BiasCorrection(bc).run(model);
  }
};

// quantize-qdq and quantize-qoperator: calibrate the values the format needs, then rewrite.
class StaticQuantizePass final : public StagePass {
 public:
  explicit StaticQuantizePass(bool qoperator) : qoperator_(qoperator) {}
  std::string name() const override { return qoperator_ ? "quantize-qoperator" : "quantize-qdq"; }
  bool act_symmetric = false;
  std::string method = "mse";
  double percentile = 99.99;

  std::string apply(ir::Model& model, PassContext& ctx) override {
    need_calibration(ctx);
    QuantizeState& st = ctx.state<QuantizeState>();
    QdqOptions q = lw.qdq();
    q.activation_symmetric = act_symmetric;
    q.prequantized = st.prequantized;
    calibration::CalibrationOptions co;
    co.method = calibration::parse_method(method);
    co.percentile = percentile;
    co.bits = 8;
    co.symmetric = act_symmetric;
    co.batch = ctx.calib_batch;
    co.threads = ctx.threads;
    const std::vector<std::string> names = qoperator_ ? qoperator_calibration_values(model, q) : qdq_calibration_values(model, q);
    const calibration::CalibrationResult cal = calibration::calibrate(model, names, ctx.calib, co);
    q.ranges = cal.ranges;
    ctx.report["calibration"] = {{"method", method}, {"samples", cal.samples}, {"values", names.size()},
                                 {"observer_bytes", cal.observer_bytes}, {"peak_activation_bytes", cal.peak_activation_bytes}};
    if (co.method == calibration::Method::kPercentile) ctx.report["calibration"]["percentile"] = percentile;
    std::string summary;
    if (qoperator_) {
      QuantizeQOperator pass(q);
      summary = pass.run(model);
      merge(st, pass.report());
    } else {
      QuantizeQdq pass(q);
      summary = pass.run(model);
      merge(st, pass.report());
    }
    return summary;
  }

 protected:
  void bind(OptionFields& f) override {
    lw.bind(f);
    f.add("recurrent-bits", lw.recurrent_bits);
    f.add("act-symmetric", act_symmetric).add("method", method).add("percentile", percentile);
  }

 private:
  bool qoperator_;
};

class DynamicQuantizePass final : public StagePass {
 public:
  std::string name() const override { return "quantize-dynamic"; }
  std::string apply(ir::Model& model, PassContext& ctx) override {
    QuantizeState& st = ctx.state<QuantizeState>();
    QdqOptions q = lw.qdq();
    q.prequantized = st.prequantized;
    QuantizeDynamic pass(q);
    std::string summary = pass.run(model);
    merge(st, pass.report());
    return summary;
  }

 protected:
  void bind(OptionFields& f) override {
    lw.bind(f);
    f.add("recurrent-bits", lw.recurrent_bits);
  }
};

class WeightOnlyQuantizePass final : public StagePass {
 public:
  std::string name() const override { return "quantize-weight-only"; }
  std::string apply(ir::Model& model, PassContext& ctx) override {
    refuse_layer_bits();
    QuantizeState& st = ctx.state<QuantizeState>();
    WeightOnlyOptions wo;
    wo.weights = lw.weights();
    wo.exclude_nodes = lw.exclude_nodes;
    wo.exclude_ops = lw.exclude_ops;
    wo.only_ops = lw.only_ops;
    wo.keep_io_float = lw.keep_io_float;
    wo.prequantized = st.prequantized;
    QuantizeWeightOnly pass(wo);
    std::string summary = pass.run(model);
    merge(st, pass.report());
    return summary;
  }
};

// The layer weights every pass of one quantize stage shares (GPTQ's and bias correction's must be the
// quantizer's).
LayerWeights stage_weights(const QuantizeSettings& s, const std::string& format) {
  LayerWeights lw;
  const bool weight_only = format == "weight-only";
  const bool reduce_range = !weight_only && !s.full_range;  // weight-only dequantizes to float: no integer kernel
  lw.bits = reduce_range && s.bits == 8 ? 7 : s.bits;
  lw.symmetric = !s.asymmetric;
  lw.granularity = weight_only ? "block" : "per-channel";
  lw.block = weight_only ? 32 : 0;
  if (!s.granularity.empty()) lw.granularity = s.granularity;
  if (s.block > 0) {
    lw.granularity = "block";
    lw.block = s.block;
  }
  if (lw.granularity != "block") lw.block = 0;
  // ONNX Runtime's QLinearConv needs one zero point for all channels of a per-channel weight.
  if (lw.granularity == "per-channel") lw.symmetric = true;
  if (format == "dynamic") lw.symmetric = true;  // MatMulInteger with a zero weight zero point, as quantize_dynamic writes
  lw.exclude_nodes = s.exclude_nodes;
  lw.exclude_ops = s.exclude_ops;
  lw.keep_io_float = s.keep_io_float;
  lw.recurrent_bits = s.bits;
  for (const auto& [node, bits] : s.layer_bits) lw.layer_bits[node] = reduce_range && bits == 8 ? 7 : bits;
  return lw;
}

template <typename P>
std::unique_ptr<P> with_weights(std::unique_ptr<P> p, const LayerWeights& lw) {
  p->lw = lw;
  return p;
}

}  // namespace

std::string resolved_format(const QuantizeSettings& s, bool have_calibration) {
  if (s.format != "auto") return s.format;
  if (have_calibration) return "qdq";
  return s.bits == 8 ? "dynamic+weight-only" : "weight-only";
}

void build_quantize_pipeline(const QuantizeSettings& s, bool have_calibration, PassManager& pm) {
  if (s.bits < 2 || s.bits > 8) throw_bad_input("--bits must be in 2..8, got {}", s.bits);
  const std::string format = resolved_format(s, have_calibration);
  if (format == "bf16") {  // bfloat16 weights, float32 compute: no integer step
    if (s.gptq || s.bias_correction == 1 || s.equalize) {
      throw Error(ExitCode::kUsage, fmt::format("--format {} takes none of --gptq, --bias-correction, --equalize", format));
    }
    if (s.fold_bn) pm.add(std::make_unique<FoldBatchNorm>());
    pm.add(std::make_unique<Bfloat16Weights>());
    return;
  }
  if (format == "fp16") {  // half-precision weights and compute: no integer step
    if (s.gptq || s.bias_correction == 1 || s.equalize) {
      throw Error(ExitCode::kUsage, fmt::format("--format {} takes none of --gptq, --bias-correction, --equalize", format));
    }
    if (s.fold_bn) pm.add(std::make_unique<FoldBatchNorm>());
    pm.add(std::make_unique<ConvertFloat>(true));
    return;
  }
  const bool qdq = format == "qdq", qoperator = format == "qoperator";
  const bool dynamic = format == "dynamic" || format == "dynamic+weight-only";
  const bool static_acts = qdq || qoperator;  // activation scales from calibration
  if (s.gptq && !have_calibration) {
    throw Error(ExitCode::kUsage, "--gptq measures layer inputs on calibration data: --calib PATH");
  }
  if (!s.gptq && s.gptq_options.act_order) throw Error(ExitCode::kUsage, "--act-order needs --gptq");
  for (const auto& [node, bits] : s.layer_bits) {
    if (bits < 2 || bits > 8) throw_bad_input("layer '{}': bits must be in 2..8, got {}", node, bits);
  }
  if (!s.layer_bits.empty() && (s.gptq || !(format == "qdq" || format == "qoperator"))) {
    throw Error(ExitCode::kUsage, fmt::format("per-layer weight bits take --format qdq or qoperator without --gptq (here: {}{})",
                                              format, s.gptq ? " with --gptq" : ""));
  }
  if (static_acts && !have_calibration) {
    throw Error(ExitCode::kUsage, fmt::format("--format {} needs calibration data: --calib PATH", format));
  }
  const bool bias_correction = s.bias_correction == 1 || (static_acts && s.bias_correction != 0);
  if (bias_correction && !have_calibration) {
    throw Error(ExitCode::kUsage, "--bias-correction measures input means on calibration data: --calib PATH");
  }
  if ((qoperator || dynamic) && s.block > 0) {
    throw Error(ExitCode::kUsage, fmt::format("--format {} takes per-tensor or per-channel weights, not --block", format));
  }
  const LayerWeights lw = stage_weights(s, dynamic ? "dynamic" : format);

  if (s.fold_bn) pm.add(std::make_unique<FoldBatchNorm>());
  if (s.equalize) pm.add(std::make_unique<CrossLayerEqualization>(s.exclude_nodes));
  // Before GPTQ and bias correction, so that they see (and store) the MatMul weights the integer
  // passes quantize.
  if (qoperator || dynamic) pm.add(std::make_unique<GemmToMatMul>(s.exclude_nodes, s.exclude_ops, s.keep_io_float));
  if (s.gptq) {
    auto g = with_weights(std::make_unique<GptqPass>(), lw);
    g->options = s.gptq_options;
    g->memory_mb = static_cast<int64_t>(s.gptq_options.hessian_budget_bytes / (1000 * 1000));
    pm.add(std::move(g));
  }
  if (bias_correction) pm.add(with_weights(std::make_unique<BiasCorrectionPass>(), lw));
  if (static_acts) {
    auto q = with_weights(std::make_unique<StaticQuantizePass>(qoperator), lw);
    q->act_symmetric = s.symmetric_activations;
    q->method = s.method;
    q->percentile = s.percentile;
    pm.add(std::move(q));
  } else if (format == "dynamic") {
    pm.add(with_weights(std::make_unique<DynamicQuantizePass>(), lw));
  } else if (format == "dynamic+weight-only") {
    // No calibration data: MatMul/Gemm with activations quantized at run time, Conv weights only
    // (int8 per channel behind DequantizeLinear; ConvInteger is slow in ONNX Runtime).
    LayerWeights matmuls = lw;
    matmuls.only_ops = {"MatMul", "Gemm", "LSTM", "GRU", "RNN"};  // LSTM as DynamicQuantizeLSTM, GRU/RNN weight-only
    pm.add(with_weights(std::make_unique<DynamicQuantizePass>(), matmuls));
    LayerWeights convs = stage_weights(s, "weight-only");
    convs.granularity = "per-channel";
    convs.block = 0;
    convs.symmetric = true;
    convs.only_ops = {"Conv", "ConvTranspose"};
    pm.add(with_weights(std::make_unique<WeightOnlyQuantizePass>(), convs));
  } else {
    pm.add(with_weights(std::make_unique<WeightOnlyQuantizePass>(), lw));
  }
}

QdqOptions stage_qdq_options(const QuantizeSettings& s) {
  QdqOptions q = stage_weights(s, "qdq").qdq();
  q.activation_symmetric = s.symmetric_activations;
  return q;
}

nlohmann::json quantize_weights_json(const QuantizeSettings& s, bool have_calibration) {
  const std::string format = resolved_format(s, have_calibration);
  const bool dynamic = format == "dynamic" || format == "dynamic+weight-only";
  const LayerWeights lw = stage_weights(s, dynamic ? "dynamic" : format);
  return {{"weight_bits", lw.bits}, {"granularity", lw.granularity}, {"block_size", lw.block},
          {"symmetric", lw.symmetric}, {"reduce_range", lw.bits == 7 && s.bits == 8}};
}

std::unique_ptr<Pass> create_quantize_pass(const PassSpec& spec) {
  std::unique_ptr<StagePass> p;
  if (spec.name == "gptq") p = std::make_unique<GptqPass>();
  else if (spec.name == "bias-correction") p = std::make_unique<BiasCorrectionPass>();
  else if (spec.name == "quantize-qdq") p = std::make_unique<StaticQuantizePass>(false);
  else if (spec.name == "quantize-qoperator") p = std::make_unique<StaticQuantizePass>(true);
  else if (spec.name == "quantize-dynamic") p = std::make_unique<DynamicQuantizePass>();
  else if (spec.name == "quantize-weight-only") p = std::make_unique<WeightOnlyQuantizePass>();
  else return nullptr;
  p->parse(spec);
  return p;
}

}  // namespace scalec::passes
