// The recurrent ops, on kernels/cpu/recurrent.h:
//   LSTM  opsets 7-22 (7: the current inputs and attributes; 14: layout; 22: more types)
//   GRU   opsets 7-22 (linear_before_reset from 3; layout from 14)
//   RNN   opsets 7-22 (layout from 14)
// Every attribute of the spec: direction, hidden_size, activations with activation_alpha/beta,
// clip, input_forget (LSTM), linear_before_reset (GRU), layout; optional inputs B, sequence_lens,
// initial_h, initial_c, P; optional outputs. float and double; float16 and bfloat16 computed in
// float32 (forward only).
// Opsets 1-6 are not registered: LSTM 1 has output_sequence and GRU 1 no linear_before_reset
// (a model that old names op and opset in the unsupported-op error).
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/printable.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/recurrent.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::Tensor;

// An activation name of the spec (compared without case, as ONNX Runtime does) and how many
// alpha and beta values it consumes. The spec gives no defaults for them here; one not given is 0,
// as ONNX Runtime reads it (so LeakyRelu without activation_alpha is Relu there, and here).
struct ActivationSpec {
  const char* name;
  RnnActivation kind;
  int alphas, betas;
};
constexpr ActivationSpec kActivations[] = {
    {"relu", RnnActivation::kRelu, 0, 0},
    {"tanh", RnnActivation::kTanh, 0, 0},
    {"sigmoid", RnnActivation::kSigmoid, 0, 0},
    {"affine", RnnActivation::kAffine, 1, 1},
    {"leakyrelu", RnnActivation::kLeakyRelu, 1, 0},
    {"thresholdedrelu", RnnActivation::kThresholdedRelu, 1, 0},
    {"scaledtanh", RnnActivation::kScaledTanh, 1, 1},
    {"hardsigmoid", RnnActivation::kHardSigmoid, 1, 1},
    {"elu", RnnActivation::kElu, 1, 0},
    {"softsign", RnnActivation::kSoftsign, 0, 0},
    {"softplus", RnnActivation::kSoftplus, 0, 0},
};

std::vector<std::string> default_activations(RnnCell cell) {
  if (cell == RnnCell::kLstm) return {"Sigmoid", "Tanh", "Tanh"};
  if (cell == RnnCell::kGru) return {"Sigmoid", "Tanh"};
  return {"Tanh"};
}

// float16/bfloat16 (a model converted to half precision): computed in float32 and rounded back,
// as the activation kernels do (ONNX Runtime's CPU LSTM runs them through the same casts).
RnnOutputs forward_in_float(const OpContext& ctx, const RnnAttrs& a, RnnInputs in) {
  const ir::DType half = in.x->dtype();
  std::vector<Tensor> floats;
  floats.reserve(7);
  for (const Tensor** t : {&in.x, &in.w, &in.r, &in.b, &in.initial_h, &in.initial_c, &in.p}) {
    if (*t == nullptr) continue;
    if ((*t)->dtype() != half) {
      throw_bad_input("{} X is {} but another float input is {}", ctx.where(), ir::dtype_name(half),
                      ir::dtype_name((*t)->dtype()));
    }
    floats.push_back(cast_forward_cpu(ctx.pool(), **t, ir::DType::kFloat, true, ctx.where()));
    *t = &floats.back();
  }
  RnnOutputs o = rnn_forward_cpu(ctx.pool(), a, in, ctx.where());
  for (Tensor* t : {&o.y, &o.y_h, &o.y_c}) {
    if (t->dtype() == ir::DType::kFloat) *t = cast_forward_cpu(ctx.pool(), *t, half, true, ctx.where());
  }
  return o;
}

std::vector<Tensor> recurrent_forward(const OpContext& ctx) {
  const RnnAttrs a = recurrent_attrs(ctx);
  const RnnInputs in = recurrent_inputs(ctx, a.cell);
  const bool half = in.x->dtype() == ir::DType::kFloat16 || in.x->dtype() == ir::DType::kBFloat16;
  RnnOutputs o = half ? forward_in_float(ctx, a, in) : rnn_forward_cpu(ctx.pool(), a, in, ctx.where());
  std::vector<Tensor> out(ctx.num_outputs());
  if (!out.empty() && ctx.output_requested(0)) out[0] = std::move(o.y);
  if (out.size() > 1 && ctx.output_requested(1)) out[1] = std::move(o.y_h);
  if (out.size() > 2 && ctx.output_requested(2)) out[2] = std::move(o.y_c);
  return out;
}

}  // namespace

RnnInputs recurrent_inputs(const OpContext& ctx, RnnCell cell) {
  RnnInputs in;
  in.x = &ctx.input(0);
  in.w = &ctx.input(1);
  in.r = &ctx.input(2);
  auto optional = [&](size_t i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
  in.b = optional(3);
  in.sequence_lens = optional(4);
  in.initial_h = optional(5);
  if (cell == RnnCell::kLstm) {
    in.initial_c = optional(6);
    in.p = optional(7);
  }
  return in;
}

RnnAttrs recurrent_attrs(const NodeAttrs& ctx) {
  RnnAttrs a;
  const std::string& op = ctx.node().op_type();
  a.cell = op == "LSTM" || op == "DynamicQuantizeLSTM" ? RnnCell::kLstm : op == "GRU" ? RnnCell::kGru : RnnCell::kRnn;
  const std::string direction = ctx.attr_string("direction", "forward");
  if (direction == "bidirectional") {
    a.num_directions = 2;
  } else if (direction == "reverse") {
    a.reverse = true;
  } else if (direction != "forward") {
    throw_bad_input("{} direction '{}' must be forward, reverse or bidirectional", ctx.where(), ir::printable(direction));
  }
  a.hidden_size = ctx.attr_int("hidden_size", -1);
  if (ctx.has_attr("hidden_size") && a.hidden_size < 1) {
    throw_bad_input("{} hidden_size must be >= 1, got {}", ctx.where(), a.hidden_size);
  }
  if (ctx.has_attr("clip")) {
    a.clip = ctx.attr_float("clip", 0.0f);
    if (!(*a.clip > 0.0f)) throw_bad_input("{} clip must be > 0, got {}", ctx.where(), *a.clip);
  }
  a.input_forget = a.cell == RnnCell::kLstm && ctx.attr_int("input_forget", 0) != 0;
  a.linear_before_reset = a.cell == RnnCell::kGru && ctx.attr_int("linear_before_reset", 0) != 0;
  a.layout = ctx.opset() >= 14 ? ctx.attr_int("layout", 0) : 0;
  if (a.layout != 0 && a.layout != 1) throw_bad_input("{} layout must be 0 or 1, got {}", ctx.where(), a.layout);

  std::vector<std::string> names = default_activations(a.cell);
  const size_t per_direction = names.size();
  if (const ir::Attribute* attr = ctx.node().attribute("activations")) names = attr->strings;
  const size_t want = per_direction * static_cast<size_t>(a.num_directions);
  if (names.size() != want && !(a.num_directions == 2 && names.size() == per_direction)) {
    throw_bad_input("{} activations lists {} function(s); {} with direction '{}' takes {}", ctx.where(), names.size(), op,
                    direction, want);
  }
  const std::vector<float> alphas = ctx.attr_floats("activation_alpha"), betas = ctx.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  for (const std::string& name : names) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    const ActivationSpec* spec = std::find_if(std::begin(kActivations), std::end(kActivations),
                                              [&](const ActivationSpec& s) { return lower == s.name; });
    if (spec == std::end(kActivations)) {
      throw_bad_input("{} activation '{}' is not one the recurrent ops define (Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                      "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)",
                      ctx.where(), ir::printable(name));
    }
    // alpha/beta are consumed in the order of the functions, each taking what it uses.
    RnnActivationFn f{spec->kind, 0.0f, 0.0f};
    if (spec->alphas > 0 && next_alpha < alphas.size()) f.alpha = alphas[next_alpha++];
    if (spec->betas > 0 && next_beta < betas.size()) f.beta = betas[next_beta++];
    a.activations.push_back(f);
  }
  // One set of functions (the default, or one given) for both directions: the reverse one uses the same.
  // (A copy first: inserting a vector's own range into it is undefined.)
  if (a.activations.size() < want) {
    const std::vector<RnnActivationFn> first = a.activations;
    a.activations.insert(a.activations.end(), first.begin(), first.end());
  }
  return a;
}

void register_recurrent_ops(OpRegistry& r) {
  for (const char* op : {"LSTM", "GRU", "RNN"}) {
    r.add(op, 7, kLatestOpset, recurrent_forward);  // recurrent_attrs reads layout from opset 14
  }
}

}  // namespace scalec::kernels
