#include "cli/html_report.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "ir/error.h"

namespace scalec::cli {

namespace {

using nlohmann::json;

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

double number(const json& j, const char* key, double fallback = NAN) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

constexpr int kWidth = 760;
const char* const kColors[] = {"#3366cc", "#dc3912", "#ff9900", "#109618", "#990099"};

struct Bar {
  std::string label, tip;
  double value = 0, marker = NAN;  // marker: a target drawn as a tick
};

// Horizontal bars, one row per item (layers), values from 0 to `max`.
std::string bar_chart(const std::string& id, const std::string& title, const std::string& axis, const std::vector<Bar>& bars,
                      double max, const char* value_format) {
  const int label_w = 300, bar_w = kWidth - label_w - 90, row = 18, top = 44;
  const int height = top + row * static_cast<int>(bars.size()) + 24;
  std::string s = fmt::format(R"(<svg data-chart="{}" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                              id, kWidth, height);
  s += fmt::format(R"(<text x="0" y="18" class="title">{}</text><text x="{}" y="36" class="axis">{}</text>)", escape(title),
                   label_w, escape(axis));
  max = max > 0 ? max : 1;
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const int y = top + row * static_cast<int>(i);
    const double w = std::clamp(b.value / max, 0.0, 1.0) * bar_w;
    std::string label = b.label.size() > 46 ? "..." + b.label.substr(b.label.size() - 43) : b.label;
    s += fmt::format(R"(<g><title>{}</title><text x="{}" y="{}" class="label" text-anchor="end">{}</text>)", escape(b.tip),
                     label_w - 6, y + 13, escape(label));
    s += fmt::format(R"(<rect x="{}" y="{}" width="{:.1f}" height="{}" fill="{}"/>)", label_w, y + 3, w, row - 5, kColors[0]);
    if (std::isfinite(b.marker)) {
      const double mx = label_w + std::clamp(b.marker / max, 0.0, 1.0) * bar_w;
      s += fmt::format(R"(<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" stroke="#dc3912" stroke-width="2"/>)", mx, mx, y + 1, y + row - 1);
    }
    s += fmt::format(R"(<text x="{:.1f}" y="{}" class="value">{}</text></g>)", label_w + w + 4, y + 13,
                     fmt::format(fmt::runtime(value_format), b.value));
  }
  return s + "</svg>\n";
}

struct Series {
  std::string name;
  std::vector<double> y;
};

// Lines over x = 1..n (epochs), each series scaled to the common range.
std::string line_chart(const std::string& id, const std::string& title, const std::string& axis, const std::vector<Series>& series) {
  const int left = 60, right = 160, top = 40, h = 200, height = top + h + 40, w = kWidth - left - right;
  double lo = INFINITY, hi = -INFINITY;
  size_t n = 0;
  for (const Series& s : series) {
    for (double v : s.y) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    n = std::max(n, s.y.size());
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) hi = lo + 1;
  auto X = [&](size_t i) { return left + (n <= 1 ? w / 2.0 : static_cast<double>(i) * w / static_cast<double>(n - 1)); };
  auto Y = [&](double v) { return top + h - (v - lo) / (hi - lo) * h; };
  std::string s = fmt::format(R"(<svg data-chart="{}" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                              id, kWidth, height);
  s += fmt::format(R"(<text x="0" y="18" class="title">{}</text>)", escape(title));
  s += fmt::format(R"(<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/><line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>)",
                   left, left, top, top + h, left, left + w, top + h, top + h);
  s += fmt::format(R"(<text x="{}" y="{:.1f}" class="axis" text-anchor="end">{:.4g}</text><text x="{}" y="{:.1f}" class="axis" text-anchor="end">{:.4g}</text>)",
                   left - 4, Y(hi) + 4, hi, left - 4, Y(lo) + 4, lo);
  s += fmt::format(R"(<text x="{}" y="{}" class="axis">{} 1</text><text x="{}" y="{}" class="axis" text-anchor="end">{}</text>)", left,
                   top + h + 16, escape(axis), left + w, top + h + 16, n);
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& sr = series[k];
    const char* color = kColors[k % 5];
    std::string points;
    for (size_t i = 0; i < sr.y.size(); ++i) {
      if (std::isfinite(sr.y[i])) points += fmt::format("{:.1f},{:.1f} ", X(i), Y(sr.y[i]));
    }
    s += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>)", points, color);
    for (size_t i = 0; i < sr.y.size(); ++i) {
      if (!std::isfinite(sr.y[i])) continue;
      s += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"><title>{} {}: {:.4f}</title></circle>)", X(i), Y(sr.y[i]),
                       color, escape(sr.name), i + 1, sr.y[i]);
    }
    s += fmt::format(R"(<text x="{}" y="{}" class="label" fill="{}">{}</text>)", left + w + 10, top + 14 + 16 * static_cast<int>(k),
                     color, escape(sr.name));
  }
  return s + "</svg>\n";
}

// Accuracy against size, before and after, joined by an arrow.
std::string accuracy_size_chart(double size_before, double acc_before, double size_after, double acc_after,
                                const std::string& before_name, const std::string& after_name) {
  const int left = 70, top = 40, w = kWidth - 2 * left, h = 200;
  const double smax = std::max(size_before, size_after) * 1.1;
  const double alo = std::max(0.0, std::min(acc_before, acc_after) - 0.05), ahi = std::min(1.0, std::max(acc_before, acc_after) + 0.02);
  auto X = [&](double v) { return left + v / smax * w; };
  auto Y = [&](double v) { return top + h - (v - alo) / std::max(ahi - alo, 1e-9) * h; };
  std::string s = fmt::format(R"(<svg data-chart="accuracy-size" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img">)",
                              kWidth, top + h + 40);
  s += R"(<text x="0" y="18" class="title">Accuracy and size</text>)";
  s += fmt::format(R"(<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/><line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>)", left,
                   left, top, top + h, left, left + w, top + h, top + h);
  s += fmt::format(R"(<text x="{}" y="{}" class="axis" text-anchor="end">size: {:.3g} MB</text>)", left + w, top + h + 16, smax / 1e6);
  s += fmt::format(R"(<text x="{}" y="{:.1f}" class="axis" text-anchor="end">{:.1f}%</text><text x="{}" y="{:.1f}" class="axis" text-anchor="end">{:.1f}%</text>)",
                   left - 4, Y(ahi) + 4, 100 * ahi, left - 4, Y(alo) + 4, 100 * alo);
  s += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#999" stroke-width="1.5" stroke-dasharray="4 3"/>)",
                   X(size_before), Y(acc_before), X(size_after), Y(acc_after));
  const std::pair<const std::string*, std::pair<double, double>> pts[] = {{&before_name, {size_before, acc_before}},
                                                                          {&after_name, {size_after, acc_after}}};
  for (size_t k = 0; k < 2; ++k) {
    const auto& [name, p] = pts[k];
    s += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="6" fill="{}"><title>{}: {:.2f}%, {:.3f} MB</title></circle>)", X(p.first),
                     Y(p.second), kColors[k], escape(*name), 100 * p.second, p.first / 1e6);
    const bool right_half = X(p.first) > left + w / 2;  // labels go toward the middle, never off the chart
    s += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="label" text-anchor="{}">{} {:.2f}%, {:.3f} MB</text>)",
                     X(p.first) + (right_half ? -9 : 9), Y(p.second) + (k == 0 ? 16 : -8), right_half ? "end" : "start",
                     escape(*name), 100 * p.second, p.first / 1e6);
  }
  return s + "</svg>\n";
}

std::string summary_rows(const json& r) {
  std::string rows;
  auto row = [&](const std::string& k, const std::string& v) { rows += "<tr><th>" + escape(k) + "</th><td>" + escape(v) + "</td></tr>"; };
  if (r.contains("inputs") && r["inputs"].is_object()) {
    for (const auto& [role, path] : r["inputs"].items()) {
      if (path.is_string() && !path.get<std::string>().empty()) row(role, path.get<std::string>());
    }
  }
  if (!text(r, "output_file").empty()) row("output", text(r, "output_file"));
  if (!text(r, "pipeline").empty()) row("pipeline", text(r, "pipeline"));
  if (r.contains("size") && r["size"].is_object()) {
    row("size", fmt::format("{:.0f} -> {:.0f} bytes", number(r["size"], "before_bytes"), number(r["size"], "after_bytes")));
  }
  if (r.contains("accuracy") && r["accuracy"].is_object()) {
    std::string a;
    for (const char* k : {"before", "after"}) {
      if (r["accuracy"].contains(k)) a += fmt::format("{}{} {:.2f}%", a.empty() ? "" : ", ", k, 100 * number(r["accuracy"], k));
    }
    row("top-1 accuracy", a);
  }
  if (std::isfinite(number(r, "seconds"))) row("time", fmt::format("{:.2f} s", number(r, "seconds")));
  if (std::isfinite(number(r, "peak_rss_bytes"))) row("peak memory", fmt::format("{:.1f} MB", number(r, "peak_rss_bytes") / 1e6));
  if (!text(r, "scalec_version").empty()) row("scalec", text(r, "scalec_version"));
  return rows;
}

std::string charts(const json& r) {
  std::string out;
  const std::string command = text(r, "command");
  const json* layers = r.contains("layers") && r["layers"].is_array() ? &r["layers"] : nullptr;
  const json* sparsity_layers = layers;
  if (!sparsity_layers && r.contains("stages") && r["stages"].is_array()) {  // scalec run: its prune stage
    for (const json& st : r["stages"]) {
      if (st.contains("layers") && st["layers"].is_array() && !st["layers"].empty() && st["layers"].front().contains("sparsity_after")) {
        sparsity_layers = &st["layers"];
        break;
      }
    }
  }
  if (sparsity_layers && !sparsity_layers->empty() && sparsity_layers->front().contains("sparsity_after")) {
    std::vector<Bar> bars;
    for (const json& l : *sparsity_layers) {
      const double t = number(l, "target", 0);
      bars.push_back({text(l, "layer"), fmt::format("{} ({}): {:.1f}% zero, target {:.1f}%{}", text(l, "layer"), text(l, "weight"),
                                                    100 * number(l, "sparsity_after"), 100 * t,
                                                    text(l, "note").empty() ? "" : "; " + text(l, "note")),
                      100 * number(l, "sparsity_after"), t > 0 ? 100 * t : NAN});
    }
    out += bar_chart("layer-sparsity", "Sparsity per layer", "share of weights that are zero (%); red tick: target", bars, 100, "{:.1f}%");
  }
  if (command == "sensitivity" && layers && !layers->empty()) {
    const bool drop = layers->front().contains("accuracy_drop") && layers->front()["accuracy_drop"].is_number();
    std::vector<Bar> bars;
    double max = 0;
    for (const json& l : *layers) {
      const double v = drop ? 100 * number(l, "accuracy_drop") : number(l, "sqnr_db");
      bars.push_back({text(l, "layer"), fmt::format("{}: accuracy drop {:.2f} points, output SQNR {:.1f} dB", text(l, "layer"),
                                                    100 * number(l, "accuracy_drop", 0), number(l, "sqnr_db")),
                      std::max(v, 0.0)});
      max = std::max(max, std::max(v, 0.0));
    }
    out += bar_chart("sensitivity", drop ? "Sensitivity: top-1 lost when this layer alone is compressed" : "Sensitivity: output SQNR with this layer alone compressed",
                     drop ? "points of top-1 accuracy lost" : "SQNR of the output (dB; lower = more sensitive)", bars, max, drop ? "{:.2f}" : "{:.1f} dB");
  }
  if (r.contains("values") && r["values"].is_array() && !r["values"].empty()) {
    std::vector<Bar> bars;
    double max = 0;
    for (const json& v : r["values"]) {
      const double db = number(v, "sqnr_db");
      if (!std::isfinite(db)) continue;
      bars.push_back({text(v, "name"), fmt::format("{}: SQNR {:.1f} dB", text(v, "name"), db), std::max(db, 0.0)});
      max = std::max(max, db);
    }
    if (!bars.empty()) {
      out += bar_chart("quantization-error", "Error per value: SQNR of B against A, in graph order",
                       "signal-to-quantization-noise ratio (dB; higher = closer)", bars, max, "{:.1f} dB");
    }
  }
  // Accuracy against size: a command's before/after, or compare's A and B.
  if (r.contains("size") && r.contains("accuracy") && r["accuracy"].contains("before") && r["accuracy"].contains("after")) {
    out += accuracy_size_chart(number(r["size"], "before_bytes"), number(r["accuracy"], "before"), number(r["size"], "after_bytes"),
                               number(r["accuracy"], "after"), "before", "after");
  } else if (std::isfinite(number(r, "accuracy_a")) && std::isfinite(number(r, "accuracy_b"))) {
    out += accuracy_size_chart(number(r, "size_a_bytes"), number(r, "accuracy_a"), number(r, "size_b_bytes"), number(r, "accuracy_b"),
                               "A", "B");
  }
  const json* epochs = r.contains("epochs") && r["epochs"].is_array() ? &r["epochs"] : nullptr;
  if (!epochs && r.contains("stages") && r["stages"].is_array()) {  // scalec run: the first training stage
    for (const json& st : r["stages"]) {
      if (st.contains("epochs") && st["epochs"].is_array() && !st["epochs"].empty()) {
        epochs = &st["epochs"];
        break;
      }
    }
  }
  if (epochs && !epochs->empty()) {
    Series loss{"loss", {}}, val_loss{"val loss", {}}, acc{"accuracy %", {}}, val_acc{"val accuracy %", {}};
    for (const json& e : *epochs) {
      loss.y.push_back(number(e, "loss"));
      val_loss.y.push_back(number(e, "val_loss"));
      acc.y.push_back(100 * number(e, "accuracy"));
      val_acc.y.push_back(100 * number(e, "val_accuracy"));
    }
    std::vector<Series> losses = {loss}, accs = {acc};
    if (std::any_of(val_loss.y.begin(), val_loss.y.end(), [](double v) { return std::isfinite(v); })) losses.push_back(val_loss);
    if (std::any_of(val_acc.y.begin(), val_acc.y.end(), [](double v) { return std::isfinite(v); })) accs.push_back(val_acc);
    out += "<div data-chart-group=\"training-curves\">" + line_chart("training-curves", "Training: loss per epoch", "epoch", losses) +
           line_chart("training-accuracy", "Training: top-1 accuracy per epoch", "epoch", accs) + "</div>\n";
  }
  return out;
}

}  // namespace

std::string html_report(const nlohmann::json& report) {
  const std::string command = text(report, "command");
  std::string raw = report.dump(2);
  // Inside <script>, "</" would end the element early.
  for (size_t at = raw.find("</"); at != std::string::npos; at = raw.find("</", at + 3)) raw.replace(at, 2, "<\\/");
  std::string body = charts(report);
  if (body.empty()) body = "<p class=\"none\">This report has no per-layer, per-value or per-epoch figures to chart.</p>\n";
  return fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scalec {0} report</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 800px; }}
table {{ border-collapse: collapse; margin-bottom: 16px; }} th, td {{ text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }}
th {{ color: #555; font-weight: 600; }} td {{ word-break: break-all; }}
svg {{ display: block; margin: 18px 0; }} .title {{ font-weight: 600; font-size: 15px; }}
.axis {{ fill: #666; font-size: 11px; }} .label {{ font-size: 11px; }} .value {{ font-size: 10px; fill: #444; }}
.grid {{ stroke: #bbb; }} .none {{ color: #666; }}
</style></head>
<body data-command="{0}">
<h1>scalec {0}</h1>
<table>{1}</table>
{2}<details><summary>the report (JSON)</summary><pre id="raw"></pre></details>
<script type="application/json" id="scalec-report">{3}</script>
<script>
// Inline, no network: show the embedded report and count the charts (tests read data-charts).
const report = JSON.parse(document.getElementById('scalec-report').textContent);
document.getElementById('raw').textContent = JSON.stringify(report, null, 2);
document.body.dataset.charts = document.querySelectorAll('svg[data-chart]').length;
</script>
</body></html>
)",
                     escape(command), summary_rows(report), body, raw);
}

void write_html_report(const nlohmann::json& report, const std::string& path, onnx_io::CommitGroup* group) {
  try {
    onnx_io::AtomicFile out(path, group);
    out.write(html_report(report));
    out.commit();
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("--html: {}", e.what()));
  }
}

}  // namespace scalec::cli
