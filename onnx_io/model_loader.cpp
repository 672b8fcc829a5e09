// ModelProto -> ir::Model.
#include <climits>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/unknown_field_set.h>
#include <onnx/onnx_pb.h>

#include "ir/error.h"
#include "ir/verifier.h"
#include "onnx_io/file_util.h"
#include "onnx_io/model_io.h"
#include "onnx_io/tensor_proto.h"

namespace scalec::onnx_io {

namespace {

using ir::Attribute;
using ir::Graph;
using ir::Value;

// Serialized fields this libonnx does not know (added by newer ONNX), so a save can restore them.
std::string unknown_fields_of(const google::protobuf::Message& m) {
  const auto& u = m.GetReflection()->GetUnknownFields(m);
  if (u.empty()) return {};
  std::string s;
  u.SerializeToString(&s);
  return s;
}

ir::TypeInfo type_from_proto(const onnx::TypeProto& t) {
  ir::TypeInfo ti;
  if (!t.has_tensor_type()) {
    ti.kind = ir::TypeInfo::Kind::kOpaque;
    t.SerializeToString(&ti.opaque);
    return ti;
  }
  ti.denotation = t.denotation();
  const auto& tt = t.tensor_type();
  ti.elem_type = tt.elem_type();
  if (tt.has_shape()) {
    std::vector<ir::Dim> dims;
    for (const auto& d : tt.shape().dim()) {
      ir::Dim dim;
      if (d.has_dim_value()) dim.value = d.dim_value();
      if (d.has_dim_param()) dim.param = d.dim_param();
      dim.denotation = d.denotation();
      dims.push_back(std::move(dim));
    }
    ti.shape = std::move(dims);
  }
  return ti;
}

class Loader {
 public:
  Loader(ExternalDataResolver& external, const std::string& file) : external_(external), file_(file) {}

  std::unique_ptr<Graph> graph(const onnx::GraphProto& gp, Graph* parent) {
    auto g = std::make_unique<Graph>(gp.name(), parent);
    g->doc_string = gp.doc_string();
    g->unknown_fields = unknown_fields_of(gp);
    if (gp.sparse_initializer_size() > 0) {
      throw_bad_input("{}: graph '{}' has sparse initializers, which scalec does not read yet", file_, gp.name());
    }
    for (const auto& qa : gp.quantization_annotation()) qa.SerializeToString(&g->opaque_quantization_annotations.emplace_back());

    for (const auto& vi : gp.input()) {
      Value* v = g->create_value(vi.name());
      apply_value_info(vi, v);
      g->inputs.push_back(v);
    }
    for (const auto& tp : gp.initializer()) {
      Value* v = g->find_value(tp.name());
      bool is_input = v && std::find(g->inputs.begin(), g->inputs.end(), v) != g->inputs.end() && !v->is_initializer();
      if (!is_input) v = g->create_value(tp.name());
      v->initializer = tensor_from_proto(tp, external_, fmt::format("'{}': initializer '{}'", file_, tp.name()));
      v->initializer_extras = tensor_proto_extras(tp);
      g->initializers.push_back(v);
    }
    // Outputs first, so nodes stored out of order (and subgraphs) can refer to later values.
    std::vector<std::vector<Value*>> outputs(static_cast<size_t>(gp.node_size()));
    for (int i = 0; i < gp.node_size(); ++i) {
      for (const auto& name : gp.node(i).output()) {
        outputs[static_cast<size_t>(i)].push_back(name.empty() ? nullptr : g->create_value(name));
      }
    }
    for (int i = 0; i < gp.node_size(); ++i) node(gp.node(i), *g, outputs[static_cast<size_t>(i)]);
    for (const auto& vi : gp.output()) {
      Value* v = resolve(*g, vi.name());
      apply_value_info(vi, v);
      g->outputs.push_back(v);
    }
    for (const auto& vi : gp.value_info()) {
      Value* v = g->find_value(vi.name());
      if (v == nullptr) v = g->create_value(vi.name());  // kept so a save writes it back
      apply_value_info(vi, v);
    }
    return g;
  }

 private:
  void apply_value_info(const onnx::ValueInfoProto& vi, Value* v) {
    if (vi.has_type()) v->type = type_from_proto(vi.type());
    v->doc_string = vi.doc_string();
    v->unknown_fields = unknown_fields_of(vi);
  }

  // Finds a name in this graph or an enclosing one; an unknown name becomes an undefined value
  // that the verifier reports as dangling.
  Value* resolve(Graph& g, const std::string& name) {
    if (Value* v = g.lookup(name)) return v;
    return g.create_value(name);
  }

  void node(const onnx::NodeProto& np, Graph& g, const std::vector<Value*>& outs) {
    std::vector<Value*> ins;
    for (const auto& name : np.input()) ins.push_back(name.empty() ? nullptr : resolve(g, name));
    ir::Node* n = g.add_node(np.op_type(), ins, outs, np.domain());
    n->name = np.name();
    n->doc_string = np.doc_string();
    n->unknown_fields = unknown_fields_of(np);
    for (const auto& ap : np.attribute()) n->mutable_attributes().push_back(attribute(ap, g, n->name));
  }

  Attribute attribute(const onnx::AttributeProto& ap, Graph& g, const std::string& node_name) {
    using K = Attribute::Kind;
    using P = onnx::AttributeProto;
    Attribute a;
    a.name = ap.name();
    a.ref_attr_name = ap.ref_attr_name();
    a.doc_string = ap.doc_string();
    a.unknown_fields = unknown_fields_of(ap);
    auto type = ap.type();
    if (type == P::UNDEFINED) type = infer_type(ap);  // very old models leave `type` unset
    std::string what = fmt::format("'{}': attribute '{}' of node '{}'", file_, ap.name(), node_name);
    switch (type) {
      case P::FLOAT: a.kind = K::kFloat; a.f = ap.f(); break;
      case P::INT: a.kind = K::kInt; a.i = ap.i(); break;
      case P::STRING: a.kind = K::kString; a.s = ap.s(); break;
      case P::TENSOR:
        a.kind = K::kTensor;
        a.t = tensor_from_proto(ap.t(), external_, what);
        a.tensor_extras.push_back(tensor_proto_extras(ap.t()));
        break;
      case P::GRAPH: a.kind = K::kGraph; a.g = graph(ap.g(), &g); break;
      case P::FLOATS: a.kind = K::kFloats; a.floats.assign(ap.floats().begin(), ap.floats().end()); break;
      case P::INTS: a.kind = K::kInts; a.ints.assign(ap.ints().begin(), ap.ints().end()); break;
      case P::STRINGS: a.kind = K::kStrings; a.strings.assign(ap.strings().begin(), ap.strings().end()); break;
      case P::TENSORS:
        a.kind = K::kTensors;
        for (const auto& t : ap.tensors()) {
          a.tensors.push_back(tensor_from_proto(t, external_, what));
          a.tensor_extras.push_back(tensor_proto_extras(t));
        }
        break;
      case P::GRAPHS:
        a.kind = K::kGraphs;
        for (const auto& sub : ap.graphs()) a.graphs.push_back(graph(sub, &g));
        break;
      case P::SPARSE_TENSOR: a.kind = K::kSparseTensor; ap.sparse_tensor().SerializeToString(&a.opaque.emplace_back()); break;
      case P::SPARSE_TENSORS:
        a.kind = K::kSparseTensors;
        for (const auto& s : ap.sparse_tensors()) s.SerializeToString(&a.opaque.emplace_back());
        break;
      case P::TYPE_PROTO: a.kind = K::kTypeProto; ap.tp().SerializeToString(&a.opaque.emplace_back()); break;
      case P::TYPE_PROTOS:
        a.kind = K::kTypeProtos;
        for (const auto& t : ap.type_protos()) t.SerializeToString(&a.opaque.emplace_back());
        break;
      default:
        if (a.ref_attr_name.empty()) throw_bad_input("{}: unknown attribute type {}", what, static_cast<int>(type));
    }
    return a;
  }

  static onnx::AttributeProto::AttributeType infer_type(const onnx::AttributeProto& ap) {
    using P = onnx::AttributeProto;
    if (ap.has_f()) return P::FLOAT;
    if (ap.has_i()) return P::INT;
    if (ap.has_s()) return P::STRING;
    if (ap.has_t()) return P::TENSOR;
    if (ap.has_g()) return P::GRAPH;
    if (ap.floats_size()) return P::FLOATS;
    if (ap.ints_size()) return P::INTS;
    if (ap.strings_size()) return P::STRINGS;
    if (ap.tensors_size()) return P::TENSORS;
    if (ap.graphs_size()) return P::GRAPHS;
    return P::UNDEFINED;
  }

  ExternalDataResolver& external_;
  const std::string& file_;
};

void check_versions(const onnx::ModelProto& mp, const std::string& name) {
  if (mp.ir_version() > kMaxIrVersion) {
    throw_bad_input("{}: unsupported IR version {} (scalec reads IR versions up to {})", name, mp.ir_version(),
                    kMaxIrVersion);
  }
  for (const auto& o : mp.opset_import()) {
    if (!o.domain().empty() && o.domain() != "ai.onnx") continue;  // other domains pass through
    if (o.version() < 1 || o.version() > kMaxOpset) {
      throw_bad_input("{}: unsupported opset {} for domain ai.onnx (scalec reads opsets 1 to {})", name, o.version(),
                      kMaxOpset);
    }
  }
}

}  // namespace

ir::Model load_model_from_bytes(std::string_view bytes, const std::string& base_dir, const std::string& name,
                                const LoadOptions& options) {
  if (bytes.empty()) throw_bad_input("'{}' is empty (0 bytes): not an ONNX model", name);
  onnx::ModelProto mp;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  in.SetTotalBytesLimit(INT_MAX);
  if (bytes.size() > INT_MAX) throw_bad_input("'{}' is over 2 GB; large weights must use external data", name);
  if (!mp.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
    throw_bad_input("'{}' is not a valid ONNX model: protobuf parsing failed (corrupt or truncated file?)", name);
  }
  if (!mp.has_graph()) {
    throw_bad_input("'{}' is not a valid ONNX model: it has no graph{}", name,
                    mp.ir_version() == 0 ? " and no IR version (not an ONNX file?)" : "");
  }
  if (mp.ir_version() <= 0) throw_bad_input("'{}': model has no IR version", name);
  check_versions(mp, name);

  ir::Model m;
  m.ir_version = mp.ir_version();
  for (const auto& o : mp.opset_import()) m.opset_imports.push_back({o.domain(), o.version()});
  if (m.opset_imports.empty() && m.ir_version < 3) m.opset_imports.push_back({"", 1});  // implied before IR 3
  m.producer_name = mp.producer_name();
  m.producer_version = mp.producer_version();
  m.domain = mp.domain();
  m.model_version = mp.model_version();
  m.doc_string = mp.doc_string();
  for (const auto& kv : mp.metadata_props()) m.metadata_props.emplace_back(kv.key(), kv.value());
  for (const auto& f : mp.functions()) f.SerializeToString(&m.opaque_functions.emplace_back());
  for (const auto& t : mp.training_info()) t.SerializeToString(&m.opaque_training_info.emplace_back());
  m.unknown_fields = unknown_fields_of(mp);

  ExternalDataResolver external(base_dir);
  m.graph = Loader(external, name).graph(mp.graph(), nullptr);
  if (options.verify) {
    ir::VerifyReport r = ir::verify(m);
    if (!r.ok()) throw_bad_input("'{}' is not a valid model: {}", name, r.summary());
  }
  return m;
}

ir::Model load_model(const std::string& path, const LoadOptions& options) {
  std::string bytes = read_file(path);
  return load_model_from_bytes(bytes, dirname_of(path), path, options);
}

}  // namespace scalec::onnx_io
