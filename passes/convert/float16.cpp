#include "passes/convert/float16.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "ir/error.h"
#include "ir/graph_builder.h"
#include "kernels/common/quantize_math.h"
#include "passes/quantize/quant_graph.h"
#include "passes/quantize/quant_layers.h"

namespace scalec::passes {

namespace {

// Ops kept in float32 (Casts around them): inputs a runtime reads as float32, or statistics half
// precision loses (onnxconverter-common keeps a similar list).
const std::set<std::string> kFloat32Ops = {"Resize", "Upsample", "TopK", "Range", "CumSum", "NonMaxSuppression",
                                           "RoiAlign", "BatchNormalization", "LayerNormalization",
                                           "InstanceNormalization", "GroupNormalization"};
// Ops whose float output type comes from a dtype attribute (float32 when absent).
const std::set<std::string> kDtypeOps = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike"};

ir::Tensor to_half(const ir::Tensor& t) {
  ir::Tensor out(ir::DType::kFloat16, t.shape());
  auto src = t.values<float>();
  auto dst = out.mutable_values<uint16_t>();
  for (size_t i = 0; i < src.size(); ++i) dst[i] = kernels::float_to_half(src[i]);  // nearest even; past 65504: inf
  return out;
}

// Re-creates `n` (same inputs, attributes, name) writing `replace`'s new values instead of the old
// ones; the old values keep their readers and graph-output places, for a Cast to compute them.
void rewrite_outputs(ir::Graph& g, ir::Node* n, const std::map<ir::Value*, ir::Value*>& replace) {
  std::vector<ir::Value*> outs = n->outputs();
  for (ir::Value*& o : outs) {
    if (auto it = replace.find(o); it != replace.end()) o = it->second;
  }
  const std::vector<ir::Value*> ins = n->inputs();
  const std::vector<ir::Attribute> attrs = n->attributes();
  const std::string name = n->name, op = n->op_type(), domain = n->domain(), doc = n->doc_string;
  // A node is removed only once nothing reads or lists its outputs: readers move to the new values
  // meanwhile and come back after.
  const std::vector<ir::Value*> graph_outputs = g.outputs;
  for (auto [old_value, new_value] : replace) g.replace_all_uses(old_value, new_value);
  for (ir::Value* o : n->outputs()) g.outputs.erase(std::remove(g.outputs.begin(), g.outputs.end(), o), g.outputs.end());
  g.remove_node(n);
  ir::Node* m = g.add_node(op, ins, outs, domain);
  m->name = name;
  m->doc_string = doc;
  for (const ir::Attribute& a : attrs) m->set_attribute(a);
  for (auto [old_value, new_value] : replace) g.replace_all_uses(new_value, old_value);
  g.outputs = graph_outputs;
}

}  // namespace

bool keeps_float32(const ir::Node& n) { return n.domain().empty() && kFloat32Ops.count(n.op_type()) > 0; }

std::string ConvertFloat::options_text() const {
  return fmt::format("keep-io={}", keep_io_);
}

std::string ConvertFloat::run(ir::Model& model) {
  quant::check_not_quantized(model);
  ir::Graph& g = *model.graph;
  for (const auto& n : g.nodes()) {
    for (const ir::Attribute& a : n->attributes()) {
      if (a.kind == ir::Attribute::Kind::kGraph || a.kind == ir::Attribute::Kind::kGraphs) {
        throw_bad_input("convert-float: node '{}' ({}) has a subgraph; scalec converts models without If/Loop/Scan only",
                        n->name, n->op_type());
      }
    }
  }
  int64_t n32 = 0, f16 = 0;
  for (const ir::Value* v : g.initializers) {
    n32 += v->initializer->dtype() == ir::DType::kFloat;
    f16 += v->initializer->dtype() == ir::DType::kFloat16;
  }
  if (n32 == 0 && f16 > 0) throw_bad_input("convert-float: the model is float16 already ({} float16 weights, no float32 one)", f16);
  const ir::DType half = ir::DType::kFloat16;
  const int64_t half_code = static_cast<int64_t>(half);
  const std::string suffix = "_fp16";

  // Which values hold float32, before anything changes.
  std::set<const ir::Value*> floats;
  {
    const quant::ValueTypes types(model);
    for (ir::Value* v : g.inputs) {
      if (types.elem_type(v) == static_cast<int32_t>(ir::DType::kFloat)) floats.insert(v);
    }
    for (ir::Value* v : g.initializers) {
      if (v->initializer->dtype() == ir::DType::kFloat) floats.insert(v);
    }
    for (const auto& n : g.nodes()) {
      for (ir::Value* v : n->outputs()) {
        if (v && types.elem_type(v) == static_cast<int32_t>(ir::DType::kFloat)) floats.insert(v);
      }
    }
  }
  // A command that changes nothing exits 2 (DESIGN.md), with the reason.
  if (floats.empty()) throw_bad_input("convert-float: the model has no float32 weight or value: nothing to convert");
  auto blocked = [](const ir::Node* n) { return keeps_float32(*n); };

  // Weights: to the half type unless only float32 ops read them.
  int64_t weights = 0, bytes_before = 0, bytes_after = 0;
  for (ir::Value* v : g.initializers) {
    if (!floats.count(v)) continue;
    const bool only_blocked = !v->uses().empty() && std::all_of(v->uses().begin(), v->uses().end(),
                                                                [&](const ir::Use& u) { return blocked(u.node); });
    if (only_blocked && !quant::is_graph_output(g, v)) {
      floats.erase(v);
      continue;
    }
    bytes_before += static_cast<int64_t>(v->initializer->bytes().size());
    v->initializer = to_half(*v->initializer);
    bytes_after += static_cast<int64_t>(v->initializer->bytes().size());
    ++weights;
  }
  // Recorded types, constants and casts follow.
  int64_t values = 0;
  for (const ir::Value* cv : floats) {
    ir::Value* v = const_cast<ir::Value*>(cv);
    if (v->type && v->type->kind == ir::TypeInfo::Kind::kTensor && v->type->dtype() == ir::DType::kFloat) {
      v->type->elem_type = static_cast<int32_t>(half);
    }
    ++values;
  }
  for (const auto& n : g.nodes()) {
    if (!n->domain().empty() || !n->output(0) || !floats.count(n->output(0))) continue;
    const std::string& op = n->op_type();
    if (op == "Cast") {
      n->set_attribute(ir::GraphBuilder::attr("to", half_code));
    } else if (op == "Constant" || op == "ConstantOfShape") {
      ir::Attribute value;
      if (const ir::Attribute* a = n->attribute("value"); a && a->t) {
        value = *a;
        value.t = to_half(*a->t);
      } else {
        value.name = "value";
        value.kind = ir::Attribute::Kind::kTensor;
        std::vector<float> fs = {0.0f};  // ConstantOfShape without a value: float32 zeros
        std::vector<int64_t> shape = {1};
        if (const ir::Attribute* f = n->attribute("value_float")) {
          fs = {f->f};
          shape = {};
        } else if (const ir::Attribute* fl = n->attribute("value_floats")) {
          fs = fl->floats;
          shape = {static_cast<int64_t>(fs.size())};
        }
        value.t = to_half(ir::Tensor::from_floats(shape, fs));
      }
      auto& attrs = n->mutable_attributes();
      attrs.erase(std::remove_if(attrs.begin(), attrs.end(), [](const ir::Attribute& a) {
                    return a.name == "value" || a.name == "value_float" || a.name == "value_floats";
                  }),
                  attrs.end());
      n->set_attribute(value);
    } else if (kDtypeOps.count(op)) {
      n->set_attribute(ir::GraphBuilder::attr("dtype", half_code));
    }
  }

  // float32 islands: Casts around the ops kept in float32.
  std::map<std::string, int> kept;
  std::vector<ir::Node*> islands;
  for (const auto& n : g.nodes()) {
    if (blocked(n.get())) islands.push_back(n.get());
  }
  for (ir::Node* n : islands) {
    bool touched = false;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      ir::Value* in = n->input(i);
      if (!in || !floats.count(in)) continue;
      ir::Value* f32 = g.create_value(g.unique_name(in->name() + "_fp32"));
      g.add_node("Cast", {in}, {f32})->set_attribute(ir::GraphBuilder::attr("to", static_cast<int64_t>(ir::DType::kFloat)));
      n->set_input(i, f32);
      touched = true;
    }
    std::map<ir::Value*, ir::Value*> to_f32;
    for (ir::Value* out : n->outputs()) {
      if (out && floats.count(out)) to_f32[out] = g.create_value(g.unique_name(out->name() + "_fp32"));
    }
    if (touched || !to_f32.empty()) ++kept[n->op_type()];
    if (to_f32.empty()) continue;
    rewrite_outputs(g, n, to_f32);
    for (auto [out, f32] : to_f32) g.add_node("Cast", {f32}, {out})->set_attribute(ir::GraphBuilder::attr("to", half_code));
  }
  // Inputs and outputs stay float32 for the caller.
  if (keep_io_) {
    for (ir::Value* x : std::vector<ir::Value*>(g.inputs)) {
      if (x->is_initializer() || !floats.count(x)) continue;
      ir::Value* h = g.create_value(g.unique_name(x->name() + suffix));
      const std::vector<ir::Value*> outputs = g.outputs;
      g.replace_all_uses(x, h);
      g.outputs = outputs;  // an input that is also an output stays as it is
      h->type = x->type;
      if (x->type) x->type->elem_type = static_cast<int32_t>(ir::DType::kFloat);
      g.add_node("Cast", {x}, {h})->set_attribute(ir::GraphBuilder::attr("to", half_code));
    }
    for (ir::Value* y : std::vector<ir::Value*>(g.outputs)) {
      if (!floats.count(y) || !y->producer() || quant::is_graph_input(g, y)) continue;
      ir::Value* h = g.create_value(g.unique_name(y->name() + suffix));
      h->type = y->type;
      if (y->type) y->type->elem_type = static_cast<int32_t>(ir::DType::kFloat);
      // The producer writes the half value, which readers inside the graph take; the output's name
      // is computed by the Cast.
      rewrite_outputs(g, y->producer(), {{y, h}});
      const std::vector<ir::Value*> outputs = g.outputs;
      g.replace_all_uses(y, h);
      g.outputs = outputs;
      g.add_node("Cast", {h}, {y})->set_attribute(ir::GraphBuilder::attr("to", static_cast<int64_t>(ir::DType::kFloat)));
    }
  }
  std::string kept_text;
  for (const auto& [op, count] : kept) kept_text.append(kept_text.empty() ? "" : ", ").append(fmt::format("{} x{}", op, count));
  g.sort_topologically();
  return fmt::format("convert-float: {} weights and {} values -> {} ({:.1f} KB -> {:.1f} KB of weights); kept in float32: {}{}",
                     weights, values, "float16", static_cast<double>(bytes_before) / 1e3,
                     static_cast<double>(bytes_after) / 1e3, kept_text.empty() ? "none" : kept_text,
                     keep_io_ ? "; inputs and outputs float32" : "");
}

}  // namespace scalec::passes
