#include "kernels/exec/fusion.h"

#include <algorithm>
#include <cmath>

#include "ir/error.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/matmul.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

// The constant tensor behind `v` (an initializer that no feed can replace, or a Constant node's
// `value`), or null.
const ir::Tensor* constant_tensor(const ir::Model& model, const ir::Value* v) {
  if (v == nullptr) return nullptr;
  const auto& inputs = model.graph->inputs;
  if (v->is_initializer()) {
    if (std::find(inputs.begin(), inputs.end(), v) != inputs.end()) return nullptr;
    return &*v->initializer;
  }
  if (const ir::Node* p = v->producer(); p && p->op_type() == "Constant" && p->domain().empty()) {
    const ir::Attribute* a = p->attribute("value");
    if (a && a->t) return &*a->t;
  }
  return nullptr;
}

// The constant scalar float/double tensor behind `v`, or null.
const ir::Tensor* constant_scalar(const ir::Model& model, const ir::Value* v) {
  const ir::Tensor* t = constant_tensor(model, v);
  if (t == nullptr || t->numel() != 1) return nullptr;
  if (t->dtype() != ir::DType::kFloat && t->dtype() != ir::DType::kDouble) return nullptr;
  return t;
}

// The single node that reads `v` (at any input), when `v` is read exactly once and is no graph
// output; else null.
const ir::Node* only_reader(const ir::Model& model, const ir::Value* v) {
  const auto& outputs = model.graph->outputs;
  if (v == nullptr || v->uses().size() != 1 || std::find(outputs.begin(), outputs.end(), v) != outputs.end()) {
    return nullptr;
  }
  const ir::Node* n = v->uses()[0].node;
  return n->domain().empty() && n->outputs().size() == 1 ? n : nullptr;
}

// The input of binary node `n` that is not `v` (n reads v exactly once), or null.
const ir::Value* other_input(const ir::Node& n, const ir::Value* v) {
  if (n.inputs().size() != 2) return nullptr;
  if (n.inputs()[0] == v && n.inputs()[1] != v) return n.inputs()[1];
  if (n.inputs()[1] == v && n.inputs()[0] != v) return n.inputs()[0];
  return nullptr;
}

std::optional<Fusion> plan_conv_activation(const ir::Model& model, const ir::Node& conv) {
  if (conv.outputs().size() != 1) return std::nullopt;
  const ir::Node* act = only_reader(model, conv.output(0));
  if (act == nullptr || act->inputs().empty() || act->inputs()[0] != conv.output(0)) return std::nullopt;
  Fusion f;
  f.kind = Fusion::Kind::kConvActivation;
  f.absorbed = {act};
  if (act->op_type() == "Relu") {
    f.epilogue.kind = ConvEpilogue::Kind::kRelu;
    return f;
  }
  if (act->op_type() != "Clip") return std::nullopt;
  f.epilogue.kind = ConvEpilogue::Kind::kClip;
  const int64_t opset = model.opset_version("");
  if (opset < 11) {
    const ClipBounds b = clip_attribute_bounds(NodeAttrs(*act, opset));
    if (b.lo) f.epilogue.lo = *b.lo;
    if (b.hi) f.epilogue.hi = *b.hi;
  } else {
    for (size_t i : {size_t{1}, size_t{2}}) {
      const ir::Value* v = i < act->inputs().size() ? act->inputs()[i] : nullptr;
      if (v == nullptr) continue;
      const ir::Tensor* t = constant_scalar(model, v);
      if (t == nullptr || (f.bound_dtype != ir::DType::kUndefined && t->dtype() != f.bound_dtype)) return std::nullopt;
      f.bound_dtype = t->dtype();
      (i == 1 ? f.epilogue.lo : f.epilogue.hi) = t->element_as_double(0);
    }
  }
  // A NaN bound makes Clip's every element NaN; leave that rare case to the Clip kernel.
  if ((f.epilogue.lo && std::isnan(*f.epilogue.lo)) || (f.epilogue.hi && std::isnan(*f.epilogue.hi))) {
    return std::nullopt;
  }
  return f;
}

std::optional<Fusion> plan_matmul_bias(const ir::Model& model, const ir::Node& matmul) {
  if (matmul.inputs().size() != 2 || matmul.outputs().size() != 1) return std::nullopt;
  const ir::Tensor* w = constant_tensor(model, matmul.inputs()[1]);
  if (w == nullptr || w->rank() != 2 || w->dtype() != ir::DType::kFloat) return std::nullopt;
  const ir::Node* add = only_reader(model, matmul.output(0));
  if (add == nullptr || add->op_type() != "Add" || model.opset_version("") < 7) return std::nullopt;
  const ir::Tensor* bias = constant_tensor(model, other_input(*add, matmul.output(0)));
  if (bias == nullptr || bias->rank() != 1 || bias->numel() != w->shape()[1] || bias->dtype() != w->dtype()) {
    return std::nullopt;
  }
  Fusion f;
  f.kind = Fusion::Kind::kMatMulBias;
  f.absorbed = {add};
  f.bias = bias;
  return f;
}

std::optional<Fusion> plan_erf_gelu(const ir::Model& model, const ir::Node& div) {
  if (div.inputs().size() != 2 || div.outputs().size() != 1 || model.opset_version("") < 7) return std::nullopt;
  const ir::Value* x = div.inputs()[0];
  const ir::Tensor* c = constant_scalar(model, div.inputs()[1]);
  const ir::Node* erf = only_reader(model, div.output(0));
  if (c == nullptr || erf == nullptr || erf->op_type() != "Erf") return std::nullopt;
  const ir::Node* add = only_reader(model, erf->output(0));
  if (add == nullptr || add->op_type() != "Add") return std::nullopt;
  const ir::Tensor* k = constant_scalar(model, other_input(*add, erf->output(0)));
  const ir::Node* mul = only_reader(model, add->output(0));
  if (k == nullptr || mul == nullptr || mul->op_type() != "Mul" || other_input(*mul, add->output(0)) != x) {
    return std::nullopt;
  }
  const ir::Node* half = only_reader(model, mul->output(0));
  if (half == nullptr || half->op_type() != "Mul") return std::nullopt;
  const ir::Tensor* h = constant_scalar(model, other_input(*half, mul->output(0)));
  if (h == nullptr || h->dtype() != c->dtype() || k->dtype() != c->dtype()) return std::nullopt;
  Fusion f;
  f.kind = Fusion::Kind::kErfGelu;
  f.absorbed = {erf, add, mul, half};
  f.divisor = c->element_as_double(0);
  f.offset = k->element_as_double(0);
  f.scale = h->element_as_double(0);
  return f;
}

}  // namespace

std::optional<Fusion> plan_fusion(const ir::Model& model, const ir::Node& head) {
  if (!head.domain().empty()) return std::nullopt;
  if (head.op_type() == "Conv") return plan_conv_activation(model, head);
  if (head.op_type() == "MatMul") return plan_matmul_bias(model, head);
  if (head.op_type() == "Div") return plan_erf_gelu(model, head);
  return std::nullopt;
}

std::vector<const ir::Value*> fusion_internal_values(const ir::Node& head, const Fusion& fusion) {
  std::vector<const ir::Value*> values(head.outputs().begin(), head.outputs().end());
  for (size_t i = 0; i + 1 < fusion.absorbed.size(); ++i) {
    values.insert(values.end(), fusion.absorbed[i]->outputs().begin(), fusion.absorbed[i]->outputs().end());
  }
  return values;
}

ir::Tensor run_fusion(const OpContext& ctx, const Fusion& fusion) {
  const ir::Tensor& x = ctx.input(0);
  switch (fusion.kind) {
    case Fusion::Kind::kConvActivation: {
      const ir::Tensor& w = ctx.input(1);
      const ir::Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
      if (fusion.bound_dtype != ir::DType::kUndefined && x.dtype() != fusion.bound_dtype) {
        throw_bad_input("[Clip] node '{}': bounds are {} but the input is {}", fusion.absorbed[0]->name,
                        ir::dtype_name(fusion.bound_dtype), ir::dtype_name(x.dtype()));
      }
      const ConvGeometry g = conv_geometry(conv_attrs(ctx), x.shape(), w.shape(), ctx.where());
      return conv_forward_cpu(ctx.pool(), x, w, bias, g, ctx.where(), fusion.epilogue);
    }
    case Fusion::Kind::kMatMulBias:
      return matmul_bias_forward_cpu(ctx.pool(), x, ctx.input(1), *fusion.bias, ctx.where());
    case Fusion::Kind::kErfGelu: {
      const ir::DType want = ctx.input(1).dtype();
      if (x.dtype() != want) {  // Div would refuse mixed types; say so for the whole chain
        throw_bad_input("{} input types differ: {} and {}", ctx.where(), ir::dtype_name(x.dtype()), ir::dtype_name(want));
      }
      return erf_gelu_forward_cpu(ctx.pool(), x, fusion.divisor, fusion.offset, fusion.scale, ctx.where());
    }
  }
  throw_internal("unknown fusion kind");
}

}  // namespace scalec::kernels
