// scalec inspect: what a model is — header, I/O, op histogram, parameters, bytes, MACs, weights.
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/html_report.h"
#include "cli/output_set.h"
#include "ir/error.h"
#include "ir/model_stats.h"
#include "ir/printer.h"
#include "kernels/exec/shape_inference.h"
#include "ir/type_info.h"
#include "kernels/exec/model_macs.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
  bool dump = false;
  std::string report, html;
  std::vector<std::string> input_shapes;  ///< NAME=1,3,224,224
};

// "NAME=1,3,224,224" items into shapes; a malformed item is a usage error (exit 1).
kernels::InputShapes parse_input_shapes(const std::vector<std::string>& items) {
  kernels::InputShapes out;
  for (const std::string& item : items) {
    const size_t eq = item.rfind('=');
    std::vector<int64_t> dims;
    bool ok = eq != std::string::npos && eq > 0 && eq + 1 < item.size();
    for (size_t at = eq + 1; ok && at <= item.size();) {
      size_t comma = item.find(',', at);
      if (comma == std::string::npos) comma = item.size();
      const std::string d = item.substr(at, comma - at);
      ok = !d.empty() && d.size() < 12 && d.find_first_not_of("0123456789") == std::string::npos && std::stoll(d) > 0;
      if (ok) dims.push_back(std::stoll(d));
      at = comma + 1;
    }
    if (!ok) throw Error(ExitCode::kUsage, fmt::format("--input-shape '{}': expected NAME=D,D,... with positive dims", item));
    out[item.substr(0, eq)] = dims;
  }
  return out;
}

nlohmann::json type_json(const ir::Value* v) {
  nlohmann::json j;
  j["name"] = v->name();
  if (!v->type) return j;
  if (v->type->kind == ir::TypeInfo::Kind::kOpaque) {
    j["type"] = "non-tensor";
    return j;
  }
  j["dtype"] = std::string(ir::dtype_name(v->type->dtype()));
  if (v->type->shape) {
    nlohmann::json dims = nlohmann::json::array();
    for (const ir::Dim& d : *v->type->shape) {
      if (d.value) dims.push_back(*d.value);
      else if (!d.param.empty()) dims.push_back(d.param);
      else dims.push_back(nullptr);
    }
    j["shape"] = dims;
  }
  return j;
}

nlohmann::json build_report(const std::string& path, const ir::Model& m, const kernels::ModelMacs& macs) {
  ir::ModelStats stats = ir::compute_model_stats(*m.graph);
  nlohmann::json j = report_header("inspect", {{"model", path}});
  j["ir_version"] = m.ir_version;
  nlohmann::json opsets = nlohmann::json::object();
  for (const auto& o : m.opset_imports) opsets[o.domain.empty() ? "ai.onnx" : o.domain] = o.version;
  j["opsets"] = opsets;
  j["producer"] = {{"name", m.producer_name}, {"version", m.producer_version}};
  j["graph_name"] = m.graph->name;
  nlohmann::json inputs = nlohmann::json::array();
  for (const ir::Value* v : m.graph->inputs) {
    if (!v->is_initializer()) inputs.push_back(type_json(v));
  }
  j["graph_inputs"] = inputs;  // "inputs" is every report's files read
  nlohmann::json outputs = nlohmann::json::array();
  for (const ir::Value* v : m.graph->outputs) outputs.push_back(type_json(v));
  j["graph_outputs"] = outputs;
  j["nodes"] = stats.nodes;
  j["op_histogram"] = stats.op_histogram;
  j["parameters"] = stats.parameters;
  j["bytes"] = stats.bytes;
  j["macs_per_sample"] = macs.macs ? nlohmann::json(*macs.macs) : nullptr;
  j["mac_nodes_counted"] = macs.counted_nodes;
  j["mac_nodes_without_shapes"] = macs.unknown_nodes;
  j["mac_batch_dims"] = macs.batch;           // counted as 1 (per sample)
  j["mac_unknown_dims"] = macs.unknown_dims;  // input dims --input-shape can fix
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : m.metadata_props) meta[k] = v;
  j["metadata"] = meta;
  nlohmann::json weights = nlohmann::json::array();
  for (const auto& w : stats.weights) {
    nlohmann::json e = {{"name", w.name},       {"source", w.from_constant ? "Constant" : "initializer"},
                        {"dtype", std::string(ir::dtype_name(w.dtype))},
                        {"shape", w.shape},     {"elements", w.numel},
                        {"bytes", w.bytes},     {"parameter", w.is_parameter}};
    if (w.has_values) {
      e["sparsity"] = w.sparsity;
      e["min"] = w.min;
      e["max"] = w.max;
      e["mean_abs"] = w.mean_abs;
    }
    weights.push_back(e);
  }
  j["weights"] = weights;
  report_footer(j);
  return j;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string s = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

void print_text(const nlohmann::json& j, const ir::Model& m) {
  std::string out;
  auto line = [&](const std::string& k, const std::string& v) { out += fmt::format("{:<12} {}\n", k, v); };
  line("model", j["inputs"]["model"].get<std::string>());
  std::string opsets;
  for (auto& [d, v] : j["opsets"].items()) opsets += fmt::format("{}{} {}", opsets.empty() ? "" : ", ", d, v.get<int64_t>());
  line("format", fmt::format("IR {}, opset {}", m.ir_version, opsets));
  line("producer", fmt::format("{} {}", m.producer_name, m.producer_version));
  auto io = [&](const char* label, const std::vector<ir::Value*>& vals) {
    bool first = true;
    for (const ir::Value* v : vals) {
      if (v->is_initializer()) continue;
      line(first ? label : "", fmt::format("{}: {}", v->name(), v->type ? ir::type_to_string(*v->type) : "?"));
      first = false;
    }
  };
  io("inputs", m.graph->inputs);
  io("outputs", m.graph->outputs);
  std::string hist;
  for (auto& [op, n] : j["op_histogram"].items()) hist += fmt::format("{}{} {}", hist.empty() ? "" : ", ", op, n.get<int64_t>());
  line("nodes", fmt::format("{} ({})", j["nodes"].get<int64_t>(), hist));
  line("parameters", with_commas(j["parameters"].get<int64_t>()));
  line("bytes", fmt::format("{} ({})", with_commas(j["bytes"].get<int64_t>()), human_bytes(j["bytes"].get<double>())));
  int64_t counted = j["mac_nodes_counted"], unknown = j["mac_nodes_without_shapes"];
  if (!j["macs_per_sample"].is_null()) {
    line("MACs", fmt::format("{} per sample ({} MAC ops)", with_commas(j["macs_per_sample"].get<int64_t>()), counted));
  } else if (!j["mac_unknown_dims"].empty()) {
    std::string dims;
    for (const auto& d : j["mac_unknown_dims"]) dims += (dims.empty() ? "" : ", ") + d.get<std::string>();
    line("MACs", fmt::format("unknown (dims: {}; fix them with --input-shape NAME=D,D,...)", dims));
  } else {
    line("MACs", fmt::format("unknown ({} of {} MAC ops without inferred shapes)", unknown, counted + unknown));
  }
  if (!j["metadata"].empty()) {
    bool first = true;
    for (auto& [k, v] : j["metadata"].items()) {
      line(first ? "metadata" : "", fmt::format("{} = {}", k, v.get<std::string>()));
      first = false;
    }
  }
  out += fmt::format("\n{:<36} {:<18} {:<8} {:>10} {:>9} {:>11} {:>11} {:>11}\n", "weight", "shape", "dtype", "elements",
                     "sparsity", "min", "max", "mean|w|");
  for (const auto& w : j["weights"]) {
    std::string shape = "[";
    for (size_t i = 0; i < w["shape"].size(); ++i) shape += (i ? "," : "") + std::to_string(w["shape"][i].get<int64_t>());
    shape += "]";
    std::string name = w["name"].get<std::string>();
    if (w["source"] == "Constant") name += " (Constant)";
    if (w.contains("min")) {
      out += fmt::format("{:<36} {:<18} {:<8} {:>10} {:>8.1f}% {:>11.4g} {:>11.4g} {:>11.4g}\n", name, shape,
                         w["dtype"].get<std::string>(), w["elements"].get<int64_t>(),
                         100 * w["sparsity"].get<double>(), w["min"].get<double>(), w["max"].get<double>(),
                         w["mean_abs"].get<double>());
    } else {
      out += fmt::format("{:<36} {:<18} {:<8} {:>10}\n", name, shape, w["dtype"].get<std::string>(),
                         w["elements"].get<int64_t>());
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Describe a model: I/O, ops, parameters, bytes, MACs, weights");
  cmd->add_option("model", opts->model, "ONNX model")->required();
  cmd->add_flag("--json", opts->json, "Print the report as JSON on stdout");
  cmd->add_flag("--dump", opts->dump, "Also print the graph, one line per node");
  cmd->add_option("--report", opts->report, "Write the JSON report to PATH ('-' for stdout)");
  cmd->add_option("--html", opts->html, "Write the report as a page with charts (self-contained HTML) to PATH");
  cmd->add_option("--input-shape", opts->input_shapes,
                  "NAME=1,3,224,224: the shape of input NAME for the MAC count, fixing its symbolic dims (repeatable)");
  cmd->callback([opts] {
    const kernels::InputShapes input_shapes = parse_input_shapes(opts->input_shapes);
    OutputSet files;
    files.input("model", opts->model);
    files.output("--report", opts->report);
    files.output("--html", opts->html);
    files.check();
    ir::Model m = onnx_io::load_model(opts->model);
    files.model_data("model", m);
    // Shapes the model does not record come from scalec's own inference (for MACs); a model whose
    // recorded types contradict its ops is still described, with a warning.
    kernels::ShapeInferenceOptions infer;
    infer.strict = false;
    // An op that contradicts its schema is an invalid model (exit 2); recorded shapes that disagree
    // with inference are only warned about, as ONNX Runtime runs such models.
    kernels::ShapeInferenceReport r = kernels::infer_shapes(m, infer);
    for (const std::string& c : r.conflicts) spdlog::warn("shape inference: {}", c);
    // The batch counts as 1; other unknown dims leave MACs unknown unless --input-shape fixes them.
    const kernels::ModelMacs macs = kernels::model_macs(m, input_shapes);
    nlohmann::json j = build_report(opts->model, m, macs);
    if (opts->json) {
      write_report(j, "-");
    } else {
      print_text(j, m);
    }
    if (opts->dump) {
      std::string text = "\n" + ir::model_to_text(m);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    if (!opts->report.empty()) write_report(j, opts->report, files.group());
    if (!opts->html.empty()) write_html_report(j, opts->html, files.group());
    files.commit();
  });
}

}  // namespace scalec::cli
