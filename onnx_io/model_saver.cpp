// ir::Model -> ModelProto, and atomic writing of the .onnx file and its external data.
#include <algorithm>
#include <climits>
#include <unordered_set>

#include <onnx/onnx_pb.h>

#include "ir/error.h"
#include "onnx_io/file_util.h"
#include "onnx_io/model_io.h"
#include "onnx_io/tensor_proto.h"

#ifndef SCALEC_VERSION
#define SCALEC_VERSION "unknown"
#endif

namespace scalec::onnx_io {

namespace {

using ir::Attribute;
using ir::Graph;
using ir::Value;

constexpr size_t kExternalAlignment = 64;         // keeps mapped tensors aligned for vector loads
constexpr size_t kProtobufLimit = (1ull << 31) - 1;  // protobuf cannot serialize past 2 GB

void restore_unknown_fields(google::protobuf::Message* m, const std::string& fields) {
  if (!fields.empty()) m->MergeFromString(fields);
}

void type_to_proto(const ir::TypeInfo& t, onnx::TypeProto* p) {
  if (t.kind == ir::TypeInfo::Kind::kOpaque) {
    p->ParseFromString(t.opaque);
    return;
  }
  if (!t.denotation.empty()) p->set_denotation(t.denotation);
  auto* tt = p->mutable_tensor_type();
  tt->set_elem_type(t.elem_type);
  if (!t.shape) return;
  auto* shape = tt->mutable_shape();
  for (const ir::Dim& d : *t.shape) {
    auto* dp = shape->add_dim();
    if (d.value) dp->set_dim_value(*d.value);
    else if (!d.param.empty()) dp->set_dim_param(d.param);
    if (!d.denotation.empty()) dp->set_denotation(d.denotation);
  }
}

// Appends tensors to "<output>.data", each at an aligned offset; all-zero pages become holes.
class FileSink : public ExternalDataSink {
 public:
  FileSink(const std::string& data_path, CommitGroup* group) : file_(data_path, group), location_(basename_of(data_path)) {}
  size_t append(const ir::Tensor& t) override {
    size_t pad = (kExternalAlignment - file_.size() % kExternalAlignment) % kExternalAlignment;
    file_.write_zeros(pad);
    size_t offset = file_.size();
    auto bytes = t.bytes();
    constexpr size_t kPage = 4096;
    for (size_t pos = 0; pos < bytes.size(); pos += kPage) {
      auto chunk = bytes.subspan(pos, std::min(kPage, bytes.size() - pos));
      bool zero = chunk.size() == kPage &&
                  std::all_of(chunk.begin(), chunk.end(), [](std::byte b) { return b == std::byte{0}; });
      if (zero) file_.write_zeros(chunk.size());
      else file_.write(chunk);
    }
    return offset;
  }
  const std::string& location() const override { return location_; }
  void commit() { file_.commit(); }
  bool used() const { return file_.size() > 0; }

 private:
  AtomicFile file_;
  std::string location_;
};

class Saver {
 public:
  Saver(ExternalDataSink* sink, size_t threshold) : sink_(sink), threshold_(threshold) {}

  void graph(const Graph& g, onnx::GraphProto* gp) {
    gp->set_name(g.name);
    if (!g.doc_string.empty()) gp->set_doc_string(g.doc_string);
    std::unordered_set<const Value*> listed;
    for (const Value* v : g.inputs) {
      value_info(v, gp->add_input());
      listed.insert(v);
    }
    for (const Value* v : g.initializers) {
      auto* tp = gp->add_initializer();
      tp->set_name(v->name());
      tensor_to_proto(*v->initializer, tp, sink_, threshold_);
      restore_unknown_fields(tp, v->initializer_extras);
    }
    // ONNX Runtime refuses a graph with two nodes of one name: a repeat (passes name new nodes after
    // a weight, and exporters share weights) gets the first free "<name>_<k>".
    std::unordered_set<std::string> taken;
    for (const auto& n : g.nodes()) taken.insert(n->name);
    std::unordered_set<std::string> written;
    for (const auto& n : g.nodes()) {
      std::string name = n->name;
      if (!name.empty() && !written.insert(name).second) {
        for (int k = 1; taken.count(name); ++k) name = n->name + "_" + std::to_string(k);
        taken.insert(name);
        written.insert(name);
      }
      node(*n, name, gp->add_node());
    }
    for (const Value* v : g.outputs) {
      value_info(v, gp->add_output());
      listed.insert(v);
    }
    for (const auto& v : g.values()) {
      if (v->type && !listed.count(v.get())) value_info(v.get(), gp->add_value_info());
    }
    for (const auto& qa : g.opaque_quantization_annotations) gp->add_quantization_annotation()->ParseFromString(qa);
    restore_unknown_fields(gp, g.unknown_fields);
  }

 private:
  static void value_info(const Value* v, onnx::ValueInfoProto* p) {
    p->set_name(v->name());
    if (v->type) type_to_proto(*v->type, p->mutable_type());
    if (!v->doc_string.empty()) p->set_doc_string(v->doc_string);
    restore_unknown_fields(p, v->unknown_fields);
  }

  void node(const ir::Node& n, const std::string& name, onnx::NodeProto* np) {
    for (const Value* v : n.inputs()) np->add_input(v ? v->name() : "");
    for (const Value* v : n.outputs()) np->add_output(v ? v->name() : "");
    if (!name.empty()) np->set_name(name);
    np->set_op_type(n.op_type());
    if (!n.domain().empty()) np->set_domain(n.domain());
    if (!n.doc_string.empty()) np->set_doc_string(n.doc_string);
    for (const Attribute& a : n.attributes()) attribute(a, np->add_attribute());
    restore_unknown_fields(np, n.unknown_fields);
  }

  void attribute(const Attribute& a, onnx::AttributeProto* ap) {
    using K = Attribute::Kind;
    using P = onnx::AttributeProto;
    ap->set_name(a.name);
    if (!a.ref_attr_name.empty()) ap->set_ref_attr_name(a.ref_attr_name);
    if (!a.doc_string.empty()) ap->set_doc_string(a.doc_string);
    switch (a.kind) {
      case K::kFloat: ap->set_type(P::FLOAT); ap->set_f(a.f); break;
      case K::kInt: ap->set_type(P::INT); ap->set_i(a.i); break;
      case K::kString: ap->set_type(P::STRING); ap->set_s(a.s); break;
      // Attribute tensors stay inline, as onnx.save does: runtimes read Constant values (Reshape
      // shapes) during shape inference and ONNX Runtime cannot read them from external data.
      case K::kTensor:
        ap->set_type(P::TENSOR);
        tensor_to_proto(*a.t, ap->mutable_t(), nullptr, 0);
        if (!a.tensor_extras.empty()) restore_unknown_fields(ap->mutable_t(), a.tensor_extras[0]);
        break;
      case K::kGraph: ap->set_type(P::GRAPH); graph(*a.g, ap->mutable_g()); break;
      case K::kFloats: ap->set_type(P::FLOATS); for (float f : a.floats) ap->add_floats(f); break;
      case K::kInts: ap->set_type(P::INTS); for (int64_t i : a.ints) ap->add_ints(i); break;
      case K::kStrings: ap->set_type(P::STRINGS); for (const auto& s : a.strings) ap->add_strings(s); break;
      case K::kTensors:
        ap->set_type(P::TENSORS);
        for (size_t i = 0; i < a.tensors.size(); ++i) {
          auto* tp = ap->add_tensors();
          tensor_to_proto(a.tensors[i], tp, nullptr, 0);
          if (i < a.tensor_extras.size()) restore_unknown_fields(tp, a.tensor_extras[i]);
        }
        break;
      case K::kGraphs:
        ap->set_type(P::GRAPHS);
        for (const auto& g : a.graphs) graph(*g, ap->add_graphs());
        break;
      case K::kSparseTensor: ap->set_type(P::SPARSE_TENSOR); ap->mutable_sparse_tensor()->ParseFromString(a.opaque.at(0)); break;
      case K::kSparseTensors:
        ap->set_type(P::SPARSE_TENSORS);
        for (const auto& s : a.opaque) ap->add_sparse_tensors()->ParseFromString(s);
        break;
      case K::kTypeProto: ap->set_type(P::TYPE_PROTO); ap->mutable_tp()->ParseFromString(a.opaque.at(0)); break;
      case K::kTypeProtos:
        ap->set_type(P::TYPE_PROTOS);
        for (const auto& s : a.opaque) ap->add_type_protos()->ParseFromString(s);
        break;
      case K::kUndefined: break;  // a reference attribute inside a function body
    }
    restore_unknown_fields(ap, a.unknown_fields);
  }

  ExternalDataSink* sink_;
  size_t threshold_;
};

onnx::ModelProto to_proto(const ir::Model& m, const SaveOptions& options, ExternalDataSink* sink) {
  onnx::ModelProto mp;
  mp.set_ir_version(m.ir_version);
  for (const auto& o : m.opset_imports) {
    auto* op = mp.add_opset_import();
    op->set_domain(o.domain);
    op->set_version(o.version);
  }
  if (!m.producer_name.empty()) mp.set_producer_name(m.producer_name);
  if (!m.producer_version.empty()) mp.set_producer_version(m.producer_version);
  if (!m.domain.empty()) mp.set_domain(m.domain);
  if (m.model_version != 0) mp.set_model_version(m.model_version);
  if (!m.doc_string.empty()) mp.set_doc_string(m.doc_string);
  auto props = m.metadata_props;
  if (options.record_provenance) {
    auto set = [&](const std::string& k, const std::string& v) {
      for (auto& [key, value] : props) {
        if (key == k) {
          value = v;
          return;
        }
      }
      props.emplace_back(k, v);
    };
    set("scalec.version", SCALEC_VERSION);
    if (!options.passes.empty()) {
      // Appended to what earlier runs recorded: the record is the model's whole history.
      std::string joined;
      for (const auto& [key, value] : props) {
        if (key == "scalec.passes") joined = value;
      }
      for (const auto& p : options.passes) joined.append(joined.empty() ? "" : ",").append(p);
      set("scalec.passes", joined);
    }
  }
  for (const auto& [k, v] : props) {
    auto* e = mp.add_metadata_props();
    e->set_key(k);
    e->set_value(v);
  }
  Saver(sink, options.external_threshold).graph(*m.graph, mp.mutable_graph());
  for (const auto& f : m.opaque_functions) mp.add_functions()->ParseFromString(f);
  for (const auto& t : m.opaque_training_info) mp.add_training_info()->ParseFromString(t);
  restore_unknown_fields(&mp, m.unknown_fields);
  return mp;
}

size_t total_tensor_bytes(const Graph& g) {
  size_t total = 0;
  for (const Value* v : g.initializers) total += v->initializer->storage_bytes();
  for (const auto& n : g.nodes()) {
    for (const Attribute& a : n->attributes()) {
      if (a.t) total += a.t->storage_bytes();
      for (const auto& t : a.tensors) total += t.storage_bytes();
      if (a.g) total += total_tensor_bytes(*a.g);
      for (const auto& s : a.graphs) total += total_tensor_bytes(*s);
    }
  }
  return total;
}

bool graph_uses_external(const Graph& g) {
  auto mapped = [](const ir::Tensor& t) { return t.storage() && t.storage()->is_mapped(); };
  for (const Value* v : g.initializers) {
    if (mapped(*v->initializer)) return true;
  }
  for (const auto& n : g.nodes()) {
    for (const Attribute& a : n->attributes()) {
      if (a.t && mapped(*a.t)) return true;
      if ((a.g && graph_uses_external(*a.g))) return true;
      for (const auto& s : a.graphs) {
        if (graph_uses_external(*s)) return true;
      }
    }
  }
  return false;
}

void collect_external_files(const Graph& g, std::vector<std::string>& files) {
  auto add = [&files](const ir::Tensor& t) {
    if (!t.storage() || !t.storage()->is_mapped()) return;
    const std::string& path = t.storage()->file()->path();
    if (std::find(files.begin(), files.end(), path) == files.end()) files.push_back(path);
  };
  for (const Value* v : g.initializers) add(*v->initializer);
  for (const auto& n : g.nodes()) {
    for (const Attribute& a : n->attributes()) {
      if (a.t) add(*a.t);
      for (const auto& t : a.tensors) add(t);
      if (a.g) collect_external_files(*a.g, files);
      for (const auto& s : a.graphs) collect_external_files(*s, files);
    }
  }
}

}  // namespace

std::vector<std::string> external_data_files(const ir::Model& model) {
  std::vector<std::string> files;
  if (model.graph) collect_external_files(*model.graph, files);
  return files;
}

bool uses_external_data(const ir::Model& model) { return model.graph && graph_uses_external(*model.graph); }

std::string serialize_model(const ir::Model& model, const SaveOptions& options) {
  onnx::ModelProto mp = to_proto(model, options, nullptr);
  if (mp.ByteSizeLong() > kProtobufLimit) throw_io_error("model is over 2 GB; save it with external data");
  return mp.SerializeAsString();
}

void save_model(const ir::Model& model, const std::string& path, const SaveOptions& options) {
  if (!model.graph) throw_internal("save_model: model has no graph");
  bool external = options.external_data == ExternalData::kAlways;
  if (options.external_data == ExternalData::kAuto) {
    // 1.8 GB leaves room for the graph itself under protobuf's 2 GB limit.
    external = uses_external_data(model) || total_tensor_bytes(*model.graph) > (1800ull << 20);
  }
  AtomicFile out(path, options.commit_group);
  std::unique_ptr<FileSink> sink;
  if (external) {
    if (!out.is_regular_target()) throw_io_error("cannot write '{}': external data needs a regular file", path);
    sink = std::make_unique<FileSink>(path + ".data", options.commit_group);
  }
  onnx::ModelProto mp = to_proto(model, options, sink.get());
  size_t size = mp.ByteSizeLong();
  if (size > kProtobufLimit) {
    throw_io_error("cannot write '{}': the model is {} bytes, over protobuf's 2 GB limit; use external data", path,
                   size);
  }
  std::string bytes;
  if (!mp.SerializeToString(&bytes)) throw_internal("serializing '{}' failed", path);
  out.write(bytes);
  if (sink && sink->used()) sink->commit();  // data first: the model must never point at missing data
  out.commit();
}

}  // namespace scalec::onnx_io
