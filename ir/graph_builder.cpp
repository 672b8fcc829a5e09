#include "ir/graph_builder.h"

namespace scalec::ir {

Value* GraphBuilder::input(const std::string& name, DType dtype, std::vector<Dim> dims) {
  Value* v = g_.create_value(name);
  v->type = TypeInfo::tensor(dtype, std::move(dims));
  g_.inputs.push_back(v);
  return v;
}

Value* GraphBuilder::input(const std::string& name, DType dtype, const std::vector<int64_t>& dims) {
  std::vector<Dim> ds;
  for (int64_t d : dims) ds.push_back(Dim::of(d));
  return input(name, dtype, std::move(ds));
}

Value* GraphBuilder::initializer(const std::string& name, Tensor t) { return g_.add_initializer(name, std::move(t)); }

Value* GraphBuilder::op(const std::string& op_type, const std::vector<Value*>& inputs, std::vector<Attribute> attrs) {
  return op_n(op_type, inputs, 1, std::move(attrs)).front();
}

std::vector<Value*> GraphBuilder::op_n(const std::string& op_type, const std::vector<Value*>& inputs,
                                       size_t n_outputs, std::vector<Attribute> attrs) {
  std::string base = op_type + "_" + std::to_string(counter_++);
  std::vector<Value*> outs;
  for (size_t i = 0; i < n_outputs; ++i) {
    outs.push_back(g_.create_value(g_.unique_name(n_outputs == 1 ? base : base + "_out" + std::to_string(i))));
  }
  last_ = g_.add_node(op_type, inputs, outs);
  last_->name = base;
  for (auto& a : attrs) last_->set_attribute(std::move(a));
  return outs;
}

void GraphBuilder::output(Value* v, std::optional<TypeInfo> type) {
  if (type) v->type = std::move(type);
  g_.outputs.push_back(v);
}

Attribute GraphBuilder::attr(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}

Attribute GraphBuilder::attr(const std::string& name, float v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}

Attribute GraphBuilder::attr(const std::string& name, const std::string& v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kString;
  a.s = v;
  return a;
}

Attribute GraphBuilder::attr(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

Attribute GraphBuilder::attr(const std::string& name, Tensor v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kTensor;
  a.t = std::move(v);
  return a;
}

}  // namespace scalec::ir
