// ONNX backend node tests against scalec's Executor, driven by a manifest.
//
//   scalec_conformance [--root DIR]... [--manifest FILE] [--update [--reasons DIR]] [--filter TEXT] [--verbose]
//                      [--shapes]
//
// Each test folder holds model.onnx and test_data_set_*/input_*.pb, output_*.pb. A test whose ops
// scalec implements (at the model's opset) is "supported" and must pass, or be listed in the
// manifest as `fail` with a reason. Tests of unsupported ops are counted, not listed. Check mode
// fails on any disagreement with the manifest; --update rewrites it, keeping written reasons and
// taking new ones from DIR/*.txt ("<test> <reason>" lines, one file per op family).
// --shapes also checks shape inference on each supported test: (a) with the inputs as plain graph
// inputs, the inferred output types must agree with the recorded ones and with the computed
// outputs, with element type and rank known; (b) with the input data known, the inferred output
// shapes must be exact (one-node tests without folding: the op's rule alone).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ir/error.h"
#include "kernels/exec/executor.h"
#include "kernels/exec/shape_inference.h"
#include "kernels/exec/control_flow.h"
#include "kernels/ops/op_registry.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"

namespace fs = std::filesystem;
using namespace scalec;

namespace {

struct Result {
  std::string status;  // pass, fail, unsupported
  std::string detail;
};

// ONNX backend test defaults: |got - ref| <= atol + rtol * |ref|.
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

std::string compare(const ir::Tensor& got, const ir::Tensor& ref, const std::string& name) {
  if (got.dtype() != ref.dtype()) {
    return fmt::format("output '{}' is {} but expected {}", name, ir::dtype_name(got.dtype()), ir::dtype_name(ref.dtype()));
  }
  if (got.shape() != ref.shape()) {
    return fmt::format("output '{}' has shape {} but expected {}", name, ir::shape_to_string(got.shape()),
                       ir::shape_to_string(ref.shape()));
  }
  if (ref.dtype() == ir::DType::kString) return got.strings() == ref.strings() ? "" : "string output differs";
  using ir::DType;
  DType t = ref.dtype();
  if ((t >= DType::kFloat8E4M3FN && t <= DType::kFloat8E5M2FNUZ) || t == DType::kFloat4E2M1) {
    // float8/float4 have no numeric reading here: their bytes must match exactly.
    return got.equals(ref) ? "" : fmt::format("output '{}' bytes differ", name);
  }
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double g = got.element_as_double(i), r = ref.element_as_double(i);
    if (std::isnan(r) && std::isnan(g)) continue;
    if (std::isinf(r) && g == r) continue;
    if (!(std::fabs(g - r) <= kAtol + kRtol * std::fabs(r))) {
      return fmt::format("output '{}' element {}: got {} expected {}", name, i, g, r);
    }
  }
  return "";
}

bool g_check_shapes = false;

// Where `inferred` disagrees with the computed output `got`; `exact` also requires every dim known.
std::string compare_type(const ir::TypeInfo& inferred, const ir::Tensor& got, const std::string& name, bool exact) {
  std::string what = fmt::format("output '{}' inferred {} but computed {}", name, ir::type_to_string(inferred),
                                 ir::type_to_string(ir::TypeInfo::tensor(got.dtype(), got.shape())));
  if (inferred.elem_type == 0 || inferred.dtype() != got.dtype()) return what;
  if (!inferred.shape || inferred.shape->size() != got.shape().size()) return what;
  for (size_t i = 0; i < got.shape().size(); ++i) {
    const ir::Dim& d = (*inferred.shape)[i];
    if (d.value ? *d.value != got.shape()[i] : exact) return what;
  }
  return "";
}

// Runs shape inference on the model at `path` (test inputs known when `inputs` is given) and
// compares its graph outputs with `outs`.
std::string check_shapes(const fs::path& path, const kernels::NamedTensors* inputs, const kernels::NamedTensors& outs) {
  ir::Model model = onnx_io::load_model(path.string());
  std::vector<std::optional<ir::TypeInfo>> recorded;
  for (ir::Value* v : model.graph->outputs) {
    recorded.push_back(v->type);
    v->type.reset();
  }
  if (inputs) {
    for (const auto& [name, t] : *inputs) {
      for (ir::Value* v : model.graph->inputs) {
        if (v->name() == name) v->initializer = t;
      }
    }
    model.graph->initializers.clear();
    for (ir::Value* v : model.graph->inputs) {
      if (v->initializer) model.graph->initializers.push_back(v);
    }
  }
  kernels::ShapeInferenceOptions opts;
  // A one-node test checks the op's rule alone. In multi-node ("_expanded") tests, shapes depend on
  // values the graph computes (Range over Cast(size)): folding them is how a real model gets them.
  opts.fold_constants = inputs != nullptr && model.graph->nodes().size() > 1;
  try {
    kernels::infer_shapes(model, opts);
  } catch (const Error& e) {
    return std::string("shape inference: ") + e.what();
  }
  const char* mode = inputs ? "shapes with known inputs" : "shapes";
  for (size_t i = 0; i < outs.size() && i < model.graph->outputs.size(); ++i) {
    const ir::Value* v = model.graph->outputs[i];
    ir::TypeInfo inferred = v->type.value_or(ir::TypeInfo{});
    std::string diff = compare_type(inferred, outs[i].second, v->name(), inputs != nullptr);
    if (diff.empty() && recorded[i] && !kernels::merge_types(*recorded[i], inferred)) {
      diff = fmt::format("output '{}' inferred {} but the model records {}", v->name(), ir::type_to_string(inferred),
                         ir::type_to_string(*recorded[i]));
    }
    if (!diff.empty()) return fmt::format("{}: {}", mode, diff);
  }
  return "";
}

Result run_test(const fs::path& dir) {
  ir::Model model;
  try {
    model = onnx_io::load_model((dir / "model.onnx").string());
  } catch (const Error& e) {
    return {"fail", std::string("load: ") + e.what()};
  }
  const auto& registry = kernels::OpRegistry::instance();
  for (const auto& n : model.graph->nodes()) {
    const int64_t opset = model.opset_version(n->domain());
    if (!registry.find(n->domain(), n->op_type(), opset) && !kernels::is_control_flow(*n, opset)) {
      return {"unsupported", fmt::format("{} opset {}", n->op_type(), model.opset_version(n->domain()))};
    }
  }
  try {
    kernels::ExecutorOptions opts;
    opts.threads = 1;
    kernels::Executor exec(model, opts);
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    }
    std::sort(sets.begin(), sets.end());
    std::vector<const ir::Value*> feeds_for;
    for (const ir::Value* v : model.graph->inputs) {
      if (!v->is_initializer()) feeds_for.push_back(v);
    }
    for (size_t s = 0; s < sets.size(); ++s) {
      const fs::path& set = sets[s];
      kernels::NamedTensors feeds;
      for (size_t i = 0; fs::exists(set / fmt::format("input_{}.pb", i)); ++i) {
        if (i >= feeds_for.size()) break;
        feeds.emplace_back(feeds_for[i]->name(), onnx_io::read_tensor_pb((set / fmt::format("input_{}.pb", i)).string()));
      }
      kernels::NamedTensors outs = exec.run(feeds);
      for (size_t i = 0; i < outs.size(); ++i) {
        fs::path ref_path = set / fmt::format("output_{}.pb", i);
        if (!fs::exists(ref_path)) continue;
        std::string diff = compare(outs[i].second, onnx_io::read_tensor_pb(ref_path.string()), outs[i].first);
        if (!diff.empty()) return {"fail", set.filename().string() + ": " + diff};
      }
      if (g_check_shapes && s == 0) {
        std::string diff = check_shapes(dir / "model.onnx", nullptr, outs);
        if (diff.empty()) diff = check_shapes(dir / "model.onnx", &feeds, outs);
        if (!diff.empty()) return {"fail", diff};
      }
    }
  } catch (const std::exception& e) {
    return {"fail", e.what()};
  }
  return {"pass", ""};
}

// Manifest lines: "<test> pass" or "<test> fail <reason>"; '#' starts a comment line.
std::map<std::string, Result> read_manifest(const fs::path& path) {
  std::map<std::string, Result> m;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string name, status, reason;
    ss >> name >> status;
    std::getline(ss, reason);
    reason.erase(0, reason.find_first_not_of(' '));
    m[name] = {status, reason};
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> roots;
  fs::path manifest, reasons_dir;
  bool update = false, verbose = false;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--root" && i + 1 < argc) roots.emplace_back(argv[++i]);
    else if (a == "--manifest" && i + 1 < argc) manifest = argv[++i];
    else if (a == "--update") update = true;
    else if (a == "--reasons" && i + 1 < argc) reasons_dir = argv[++i];
    else if (a == "--verbose") verbose = true;
    else if (a == "--shapes") g_check_shapes = true;
    else if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else {
      std::fprintf(stderr, "usage: scalec_conformance [--root DIR]... [--manifest FILE] [--update [--reasons DIR]] [--filter TEXT] [--verbose] [--shapes]\n");
      return 1;
    }
  }
  std::map<std::string, Result> results;
  int counts[3] = {0, 0, 0};
  for (const auto& root : roots) {
    if (!fs::exists(root)) continue;
    for (const auto& e : fs::directory_iterator(root)) {
      std::string name = e.path().filename().string();
      if (!fs::exists(e.path() / "model.onnx") || name.find(filter) == std::string::npos) continue;
      std::string key = root.filename().string() == "node" && root.string().find("libonnx") != std::string::npos
                            ? "debian/" + name : "onnx-wheel/" + name;
      Result r = run_test(e.path());
      results[key] = r;
      counts[r.status == "pass" ? 0 : r.status == "fail" ? 1 : 2]++;
      if (verbose && r.status != "unsupported") std::printf("%-60s %s %s\n", key.c_str(), r.status.c_str(), r.detail.c_str());
    }
  }
  std::printf("conformance: %d passed, %d failing (supported ops), %d with unsupported ops, of %zu node tests\n",
              counts[0], counts[1], counts[2], results.size());
  if (verbose) {
    std::map<std::string, int> missing;  // op -> tests it keeps from running
    for (const auto& [name, r] : results) {
      if (r.status == "unsupported") missing[r.detail.substr(0, r.detail.find(' '))]++;
    }
    std::string line;
    for (const auto& [op, n] : missing) line += fmt::format("{} {}, ", op, n);
    std::printf("unsupported ops (tests): %s\n", line.c_str());
  }
  if (manifest.empty() || !filter.empty()) return 0;

  auto expected = read_manifest(manifest);
  if (update) {
    std::map<std::string, std::string> reasons;
    if (!reasons_dir.empty() && fs::exists(reasons_dir)) {
      for (const auto& e : fs::directory_iterator(reasons_dir)) {
        std::ifstream rf(e.path());
        std::string line;
        while (std::getline(rf, line)) {
          auto sp = line.find(' ');
          if (line.empty() || line[0] == '#' || sp == std::string::npos) continue;
          reasons[line.substr(0, sp)] = line.substr(sp + 1);
        }
      }
    }
    std::ofstream f(manifest);
    f << "# ONNX backend node tests of ops scalec implements: `pass`, or `fail` with the reason.\n"
         "# Checked by the conformance CTest; rewrite with: scalec_conformance --root ... --manifest FILE --update\n";
    for (const auto& [name, r] : results) {
      if (r.status == "pass") f << name << " pass\n";
      if (r.status == "fail") {
        auto it = expected.find(name);
        std::string reason = it != expected.end() && it->second.status == "fail" && it->second.detail.rfind("TODO", 0) != 0
                                 ? it->second.detail : "TODO " + r.detail;
        if (auto rs = reasons.find(name); rs != reasons.end()) reason = rs->second;
        f << name << " fail " << reason << "\n";
      }
    }
    std::printf("manifest %s rewritten\n", manifest.c_str());
    return 0;
  }
  int problems = 0;
  for (const auto& [name, r] : results) {
    auto it = expected.find(name);
    std::string want = it == expected.end() ? "unlisted" : it->second.status;
    if (r.status == "unsupported" && want == "unlisted") continue;
    if (r.status != want) {
      std::printf("MISMATCH %s: %s (%s), manifest says %s\n", name.c_str(), r.status.c_str(), r.detail.c_str(), want.c_str());
      ++problems;
    } else if (want == "fail" && it->second.detail.rfind("TODO", 0) == 0) {
      std::printf("NO REASON %s: write why it fails in the manifest\n", name.c_str());
      ++problems;
    }
  }
  for (const auto& [name, r] : expected) {
    if (!results.count(name)) {
      std::printf("MISSING %s is in the manifest but was not found\n", name.c_str());
      ++problems;
    }
  }
  std::printf("%d passed, %d failed\n", counts[0], problems);
  return problems == 0 ? 0 : 1;
}
