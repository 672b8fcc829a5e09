// scalec compare A.onnx B.onnx --data D.npz: how far model B (a compressed copy) strays from model A
// (the reference) on the same batches: top-1 agreement of the chosen output's argmax (and accuracy
// of each with labels), SQNR per output and per intermediate value both graphs name, mean IoU of
// dense [N, C, H, W] argmax maps, and the size and speed ratios. --fail-below-sqnr gates CI.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "cli/app_context.h"
#include "cli/html_report.h"
#include "cli/dataset.h"
#include "cli/model_compare.h"
#include "cli/output_set.h"
#include "cli/run_options.h"
#include "ir/error.h"
#include "onnx_io/data_files.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {

struct CompareOptions {
  std::string a, b, data, labels = "labels", output_name, report, html;
  int64_t batch = 32;
  SplitOptions split;
  int threads = 0, runs = 5;
  double fail_below_sqnr = 0;
  bool no_fold_bn = false, no_values = false;
};

// Values listed in the text, worst first; the report lists all.
constexpr size_t kValuesShown = 10;

// One output of A set against B's output of the same name (or the chosen pair's).
struct OutputPair {
  size_t a = 0, b = 0;
  std::string name, name_b;
  Sqnr sqnr;
  std::optional<MeanIou> iou;  // dense [N, C, H, W] outputs
  std::string skipped;         // why no SQNR (not float, shapes differ)
};

// An intermediate value both graphs compute under one name.
struct SharedValue {
  std::string name;
  Sqnr sqnr;
  std::vector<int64_t> shape;
  std::string skipped;
};

// Errors in the data check say which model the data does not fit.
template <typename F>
auto for_model(const char* which, const std::string& path, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("model {} '{}': {}", which, path, e.what()));
  }
}

ir::Model load_for_compare(const std::string& path, bool fold_bn, OutputSet& files, const char* which) {
  ir::Model m = onnx_io::load_model(path);
  files.model_data(which, m);
  for_model(which, path, [&] {
    canonicalize_for_passes(m);
    prepare_for_inference(m, fold_bn);
    return 0;
  });
  return m;
}

// The pairs of outputs to compare: the chosen pair first, then every other output of A that B has.
std::vector<OutputPair> output_pairs(const ir::Model& a, const ir::Model& b, size_t chosen_a, size_t chosen_b) {
  std::vector<OutputPair> pairs;
  const auto& oa = a.graph->outputs;
  pairs.push_back({chosen_a, chosen_b, oa[chosen_a]->name(), b.graph->outputs[chosen_b]->name(), {}, {}, {}});
  for (size_t i = 0; i < oa.size(); ++i) {
    const int64_t j = output_index(b, oa[i]->name());
    if (i == chosen_a || j < 0 || static_cast<size_t>(j) == chosen_b) continue;
    pairs.push_back({i, static_cast<size_t>(j), oa[i]->name(), oa[i]->name(), {}, {}, {}});
  }
  return pairs;
}

void add_output(OutputPair& p, const ir::Tensor& ta, const ir::Tensor& tb) {
  if (!p.skipped.empty()) return;
  if (ta.shape() != tb.shape()) {
    p.skipped = fmt::format("shape {} in A, {} in B", ir::shape_to_string(ta.shape()), ir::shape_to_string(tb.shape()));
  } else if (!comparable_float(ta.dtype()) || !comparable_float(tb.dtype())) {
    p.skipped = fmt::format("{} in A, {} in B: not float", ir::dtype_name(ta.dtype()), ir::dtype_name(tb.dtype()));
  }
  if (!p.skipped.empty()) return;
  p.sqnr.add(ta, tb);
  if (ta.rank() == 4 && ta.shape()[1] > 0) {
    if (!p.iou) p.iou.emplace();
    p.iou->add(argmax_axis1(ta), argmax_axis1(tb), ta.shape()[1]);
  }
}

std::string kb(int64_t bytes) { return fmt::format("{:.1f} KB", static_cast<double>(bytes) / 1e3); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Compare model B with reference model A on data: agreement, accuracy, SQNR, mIoU, size and speed");
  add_run_options(cmd);
  cmd->add_option("A", o->a, "Reference ONNX model")->required();
  cmd->add_option("B", o->b, "ONNX model compared with A (e.g. its compressed copy)")->required();
  cmd->add_option("--data", o->data, "Data (.npz with arrays named after the inputs both models share; labels optional)")
      ->required();
  auto* labels = cmd->add_option("--labels", o->labels, "Key of the labels array (integer class indices, shape [N])");
  cmd->add_option("--output", o->output_name,
                  "Output of A whose argmax is compared (default: the first); B's output of that name, else its first");
  cmd->add_option("--batch", o->batch, "Samples per run (0: all arrays exactly as given, in one run)")
      ->check(CLI::NonNegativeNumber);
  add_split_options(cmd, o->split);
  cmd->add_option("--threads", o->threads, "Threads (default: the CPUs this process may use)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--runs", o->runs, "Timed runs of each model over the data for the speed ratio (0: no timing)")
      ->check(CLI::NonNegativeNumber);
  auto* gate = cmd->add_option("--fail-below-sqnr", o->fail_below_sqnr,
                               "Exit 3 when an output's SQNR is below DB (the report and results are still written)");
  cmd->add_flag("--no-values", o->no_values,
                "Skip the SQNR of intermediate values (which holds one batch of A's activations in memory)");
  cmd->add_flag("--no-fold-bn", o->no_fold_bn, "Run BatchNormalization as it is instead of folding it into the Conv before it");
  cmd->add_option("--report", o->report, "Write a JSON report to PATH ('-' for stdout)");
  cmd->add_option("--html", o->html, "Write the report as a page with charts (self-contained HTML) to PATH");
  cmd->callback([o, labels, gate] {
    OutputSet files;
    files.input("A", o->a);
    files.input("B", o->b);
    files.input("--data", o->data);
    files.output("--report", o->report);
    files.output("--html", o->html);
    files.check();
    ir::Model ma = load_for_compare(o->a, !o->no_fold_bn, files, "A");
    ir::Model mb = load_for_compare(o->b, !o->no_fold_bn, files, "B");
    const int64_t size_a = model_bytes_on_disk(ma, o->a), size_b = model_bytes_on_disk(mb, o->b);

    int64_t chosen_a = 0;
    if (!o->output_name.empty()) {
      chosen_a = output_index(ma, o->output_name);
      if (chosen_a < 0) {
        throw Error(ExitCode::kUsage, fmt::format("--output '{}' is not an output of model A (it has {})", o->output_name,
                                                  output_names(ma)));
      }
    }
    const std::string& out_name = ma.graph->outputs[static_cast<size_t>(chosen_a)]->name();
    int64_t chosen_b = output_index(mb, out_name);
    if (chosen_b < 0) {
      chosen_b = 0;
      spdlog::info("model B has no output '{}': comparing it with B's first output '{}'", out_name,
                   mb.graph->outputs[0]->name());
    }

    // The data must fit both models; A's arrays feed both (the Executor takes feeds by name).
    const onnx_io::SampleAxes axes = sample_axes(ma, o->batch, o->split);
    Dataset data = for_model("A", o->a, [&] { return load_dataset(ma, o->data, o->labels, axes); });
    for_model("B", o->b, [&] {
      std::vector<onnx_io::NamedTensor> arrays(data.inputs.begin(), data.inputs.end());
      if (data.labels) arrays.emplace_back(o->labels, *data.labels);
      return onnx_io::check_inputs_match(*mb.graph, arrays, o->labels, o->data, sample_axes(mb, o->batch, o->split));
    });
    if (data.samples == 0) throw_bad_input("'{}' holds no samples (axis 0 is 0): there is nothing to compare", o->data);
    if (labels->count() > 0 && !data.labels) {
      throw_bad_input("'{}' has no '{}' array (--labels): accuracy needs integer labels", o->data, o->labels);
    }

    kernels::ExecutorOptions eo;
    eo.threads = o->threads;
    kernels::Executor ea(ma, eo), eb(mb, eo);
    // Intermediate values: A's tensor of a batch waits in `pending` until B computes its twin.
    std::vector<SharedValue> values;
    std::map<std::string, ir::Tensor> pending;
    if (!o->no_values) {
      std::map<std::string, size_t> index;
      for (const auto& node : ma.graph->nodes()) {
        for (const ir::Value* va : node->outputs()) {
          if (!va || va->name().empty() || output_index(ma, va->name()) >= 0 || output_index(mb, va->name()) >= 0) continue;
          const ir::Value* vb = mb.graph->find_value(va->name());
          if (!vb || !vb->producer() || index.contains(va->name())) continue;
          index[va->name()] = values.size();
          values.push_back({va->name(), {}, {}, {}});
          ea.add_tap(va, [&pending](const ir::Value& v, const ir::Tensor& t) {
            if (comparable_float(t.dtype())) pending[v.name()] = t;
          });
        }
      }
      for (const auto& [name, slot] : index) {
        const std::size_t i = slot;  // clang 15 cannot capture a structured binding
        eb.add_tap(mb.graph->find_value(name), [&values, &pending, i](const ir::Value& v, const ir::Tensor& t) {
          SharedValue& s = values[i];
          auto it = pending.find(v.name());
          if (it == pending.end() || !s.skipped.empty()) return;
          if (!comparable_float(t.dtype())) {
            s.skipped = fmt::format("{} in B: not float", ir::dtype_name(t.dtype()));
          } else if (it->second.shape() != t.shape()) {
            s.skipped = fmt::format("shape {} in A, {} in B", ir::shape_to_string(it->second.shape()),
                                    ir::shape_to_string(t.shape()));
          } else {
            s.sqnr.add(it->second, t);
            s.shape = t.shape();
          }
          pending.erase(it);
        });
      }
    }

    std::vector<OutputPair> pairs = output_pairs(ma, mb, static_cast<size_t>(chosen_a), static_cast<size_t>(chosen_b));
    const int64_t batch = batch_size_for(ma, o->batch, data.samples, data.axes);
    const auto ranges = run_ranges(data.samples, batch, data.axes);
    int64_t rows = 0, agree = 0, correct_a = 0, correct_b = 0;
    bool classification = true;  // the chosen output is [N, C] on every run
    for (auto [begin, end] : ranges) {
      const kernels::NamedTensors feeds = batch_of(data, begin, end);
      const kernels::NamedTensors outs_a = ea.run(feeds);
      const kernels::NamedTensors outs_b = eb.run(feeds);
      pending.clear();  // values B did not compute this run
      for (OutputPair& p : pairs) add_output(p, outs_a[p.a].second, outs_b[p.b].second);
      const ir::Tensor& sa = outs_a[pairs[0].a].second;
      const ir::Tensor& sb = outs_b[pairs[0].b].second;
      if (sa.shape() != sb.shape()) {
        throw_bad_input("output '{}' of A has shape {} but output '{}' of B has shape {}: their argmax cannot be compared",
                        pairs[0].name, ir::shape_to_string(sa.shape()), pairs[0].name_b, ir::shape_to_string(sb.shape()));
      }
      classification = classification && sa.rank() == 2 && sa.shape()[1] > 0;
      if (classification) {
        const std::vector<int64_t> ya = argmax_axis1(sa), yb = argmax_axis1(sb);
        for (size_t i = 0; i < ya.size(); ++i) agree += ya[i] == yb[i];
        rows += sa.shape()[0];
      }
      if (!data.labels) continue;
      if (!classification || sa.shape()[0] != end - begin) {
        throw_bad_input("output '{}' has shape {}; accuracy needs [N, classes] scores, one row per sample (--output picks "
                        "another output)", pairs[0].name, ir::shape_to_string(sa.shape()));
      }
      correct_a += top1_correct(sa, *data.labels, begin);
      correct_b += top1_correct(sb, *data.labels, begin);
    }

    // Speed: fresh Executors (taps disable fusions), runs alternating so drift hits both alike.
    std::vector<double> seconds_a, seconds_b;
    if (o->runs > 0) {
      kernels::Executor ta(ma, eo), tb(mb, eo);
      auto time_all = [&](kernels::Executor& e) {
        const auto start = std::chrono::steady_clock::now();
        for (auto [begin, end] : ranges) e.run(batch_of(data, begin, end));
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      };
      for (int r = 0; r < o->runs; ++r) {
        seconds_a.push_back(time_all(ta));
        seconds_b.push_back(time_all(tb));
      }
    }

    nlohmann::json j = report_header("compare", {{"a", o->a}, {"b", o->b}, {"data", o->data}});
    j.update({{"samples", data.samples}, {"batch", batch}, {"threads", ea.pool_threads()}, {"output_name", pairs[0].name},
              {"output_name_b", pairs[0].name_b}});
    std::string text = fmt::format("samples      {} (batch {}, {} threads)\n", data.samples, batch, ea.pool_threads());
    if (classification && rows > 0) {
      j["agreement"] = static_cast<double>(agree) / static_cast<double>(rows);
      text += fmt::format("agreement    {:.2f}% top-1 on '{}' ({} of {})\n", 100.0 * static_cast<double>(agree) / static_cast<double>(rows),
                          pairs[0].name, agree, rows);
    } else {
      j["agreement"] = nullptr;
    }
    if (data.labels) {
      const double acc_a = static_cast<double>(correct_a) / static_cast<double>(data.samples);
      const double acc_b = static_cast<double>(correct_b) / static_cast<double>(data.samples);
      j["accuracy_a"] = acc_a;
      j["accuracy_b"] = acc_b;
      text += fmt::format("accuracy     A {:.2f}%  B {:.2f}%  ({:+.2f} points)\n", 100 * acc_a, 100 * acc_b, 100 * (acc_b - acc_a));
    }
    nlohmann::json jo = nlohmann::json::array();
    std::vector<std::string> failed;
    for (const OutputPair& p : pairs) {
      nlohmann::json e = {{"name", p.name}};
      if (p.name_b != p.name) e["name_b"] = p.name_b;
      std::string line = fmt::format("output       '{}'", p.name);
      if (p.name_b != p.name) line += fmt::format(" vs B's '{}'", p.name_b);
      if (!p.skipped.empty()) {
        e["sqnr_db"] = nullptr;
        e["skipped"] = p.skipped;
        line += fmt::format("  not compared: {}", p.skipped);
      } else {
        e["sqnr_db"] = p.sqnr.json();
        e["identical"] = p.sqnr.identical();
        if (p.sqnr.nonfinite_mismatches > 0) e["nonfinite_mismatches"] = p.sqnr.nonfinite_mismatches;
        line += fmt::format("  SQNR {}", p.sqnr.text());
        if (p.iou) {
          e["miou"] = p.iou->mean();
          line += fmt::format("  mIoU {:.4f}", p.iou->mean());
        }
        if (gate->count() > 0 && (p.sqnr.db() < o->fail_below_sqnr || p.sqnr.nonfinite_mismatches > 0)) {
          failed.push_back(fmt::format("'{}' {}", p.name, p.sqnr.text()));
        }
      }
      jo.push_back(e);
      text += line + "\n";
    }
    j["outputs"] = jo;

    std::vector<const SharedValue*> compared;
    nlohmann::json jv = nlohmann::json::array(), jskipped = nlohmann::json::array();
    for (const SharedValue& v : values) {
      if (!v.skipped.empty()) jskipped.push_back({{"name", v.name}, {"reason", v.skipped}});
      else if (v.sqnr.elements > 0 || !v.shape.empty()) compared.push_back(&v);
    }
    std::stable_sort(compared.begin(), compared.end(), [](const SharedValue* x, const SharedValue* y) {
      const double dx = x->sqnr.nonfinite_mismatches > 0 ? -1e300 : x->sqnr.db();
      const double dy = y->sqnr.nonfinite_mismatches > 0 ? -1e300 : y->sqnr.db();
      return dx < dy;
    });
    for (const SharedValue* v : compared) {
      nlohmann::json e = {{"name", v->name}, {"sqnr_db", v->sqnr.json()}, {"shape", v->shape}};
      if (v->sqnr.nonfinite_mismatches > 0) e["nonfinite_mismatches"] = v->sqnr.nonfinite_mismatches;
      jv.push_back(e);
    }
    j["values"] = jv;
    j["values_skipped"] = jskipped;
    if (!o->no_values) {
      text += fmt::format("values       {} intermediate values in both{}{}\n", compared.size(),
                          jskipped.empty() ? "" : fmt::format(" ({} more differ in shape or type)", jskipped.size()),
                          compared.empty() ? "" : fmt::format(", worst {} by SQNR:", std::min(kValuesShown, compared.size())));
      for (size_t i = 0; i < compared.size() && i < kValuesShown; ++i) {
        text += fmt::format("  {:<40} {}\n", compared[i]->name, compared[i]->sqnr.text());
      }
    }

    j["size_a_bytes"] = size_a;
    j["size_b_bytes"] = size_b;
    j["size_ratio"] = size_a > 0 ? nlohmann::json(static_cast<double>(size_b) / static_cast<double>(size_a)) : nullptr;
    text += fmt::format("size         B/A {:.3f} ({} / {})\n", static_cast<double>(size_b) / std::max<double>(1, static_cast<double>(size_a)),
                        kb(size_b), kb(size_a));
    j["runs"] = o->runs;
    if (o->runs > 0) {
      const double med_a = median(seconds_a), med_b = median(seconds_b);
      j["seconds_a"] = med_a;
      j["seconds_b"] = med_b;
      j["speed_ratio"] = med_b > 0 ? nlohmann::json(med_a / med_b) : nullptr;
      text += fmt::format("speed        A/B {:.2f} (median of {} runs over the data: A {:.3f} s, B {:.3f} s)\n",
                          med_a / std::max(med_b, 1e-12), o->runs, med_a, med_b);
    } else {
      j["speed_ratio"] = nullptr;
    }
    if (gate->count() > 0) {
      j["fail_below_sqnr"] = o->fail_below_sqnr;
      j["failed"] = failed;
    }
    report_footer(j);
    if (!o->report.empty()) write_report(j, o->report, files.group());
    if (!o->html.empty()) write_html_report(j, o->html, files.group());
    files.commit();
    if (o->report != "-") std::fwrite(text.data(), 1, text.size(), stdout);
    if (!failed.empty()) {
      std::string list;
      for (const std::string& f : failed) list += (list.empty() ? "" : ", ") + f;
      throw Error(ExitCode::kTargetMissed, fmt::format("SQNR below {} dB (--fail-below-sqnr): {}", o->fail_below_sqnr, list));
    }
  });
}

}  // namespace scalec::cli
