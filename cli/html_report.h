#pragma once
// --html: a report people read. One self-contained page (inline SVG and CSS, the report's JSON
// embedded; nothing fetched) with the charts the report has data for, each an <svg data-chart=...>:
// layer-sparsity (prune), sensitivity, quantization-error (compare's SQNR per value), accuracy-size
// (before and after), training-curves (loss and accuracy per epoch).
#include <string>

#include <nlohmann/json.hpp>

#include "onnx_io/file_util.h"

namespace scalec::cli {

/// The page for `report` (a --report JSON of schema_version 2).
std::string html_report(const nlohmann::json& report);

/// Writes html_report(report) to `path` atomically (committed with `group` when given).
void write_html_report(const nlohmann::json& report, const std::string& path, onnx_io::CommitGroup* group);

}  // namespace scalec::cli
