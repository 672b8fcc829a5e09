#include "kernels/exec/fusion.h"

#include <algorithm>
#include <cmath>

#include "ir/error.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

// The constant scalar float/double tensor behind `v` (an initializer that no feed can replace, or
// a Constant node's `value`), or null.
const ir::Tensor* constant_scalar(const ir::Model& model, const ir::Value* v) {
  const ir::Tensor* t = nullptr;
  const auto& inputs = model.graph->inputs;
  if (v->is_initializer()) {
    if (std::find(inputs.begin(), inputs.end(), v) != inputs.end()) return nullptr;
    t = &*v->initializer;
  } else if (const ir::Node* p = v->producer(); p && p->op_type() == "Constant" && p->domain().empty()) {
    const ir::Attribute* a = p->attribute("value");
    if (a && a->t) t = &*a->t;
  }
  if (t == nullptr || t->numel() != 1) return nullptr;
  if (t->dtype() != ir::DType::kFloat && t->dtype() != ir::DType::kDouble) return nullptr;
  return t;
}

}  // namespace

std::optional<ConvActFusion> plan_conv_fusion(const ir::Model& model, const ir::Node& conv) {
  if (conv.op_type() != "Conv" || !conv.domain().empty() || conv.outputs().size() != 1) return std::nullopt;
  const ir::Value* y = conv.output(0);
  const auto& outputs = model.graph->outputs;
  if (y == nullptr || y->uses().size() != 1 || std::find(outputs.begin(), outputs.end(), y) != outputs.end()) {
    return std::nullopt;
  }
  const ir::Use& use = y->uses()[0];
  const ir::Node& act = *use.node;
  if (use.input_index != 0 || !act.domain().empty() || act.outputs().size() != 1) return std::nullopt;
  ConvActFusion f;
  f.act = &act;
  if (act.op_type() == "Relu") {
    f.epilogue.kind = ConvEpilogue::Kind::kRelu;
    return f;
  }
  if (act.op_type() != "Clip") return std::nullopt;
  f.epilogue.kind = ConvEpilogue::Kind::kClip;
  const int64_t opset = model.opset_version("");
  if (opset < 11) {
    const ClipBounds b = clip_attribute_bounds(NodeAttrs(act, opset));
    if (b.lo) f.epilogue.lo = *b.lo;
    if (b.hi) f.epilogue.hi = *b.hi;
  } else {
    for (size_t i : {size_t{1}, size_t{2}}) {
      const ir::Value* v = i < act.inputs().size() ? act.inputs()[i] : nullptr;
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

ir::Tensor run_fused_conv(const OpContext& ctx, const ConvActFusion& fusion) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& w = ctx.input(1);
  const ir::Tensor* bias = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (fusion.bound_dtype != ir::DType::kUndefined && x.dtype() != fusion.bound_dtype) {
    throw_bad_input("[Clip] node '{}': bounds are {} but the input is {}", fusion.act->name,
                    ir::dtype_name(fusion.bound_dtype), ir::dtype_name(x.dtype()));
  }
  const ConvGeometry g = conv_geometry(conv_attrs(ctx), x.shape(), w.shape(), ctx.where());
  return conv_forward_cpu(ctx.pool(), x, w, bias, g, ctx.where(), fusion.epilogue);
}

}  // namespace scalec::kernels
