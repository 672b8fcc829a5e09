#include "cli/model_figures.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include <zlib.h>

#include "ir/error.h"
#include "ir/model_stats.h"
#include "kernels/exec/model_macs.h"
#include "onnx_io/model_io.h"

namespace scalec::cli {

namespace {

int64_t gzip_size(const std::string& bytes) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw_internal("zlib deflateInit2 failed");
  std::vector<unsigned char> out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const auto size = static_cast<int64_t>(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw_internal("zlib deflate failed ({})", rc);
  return size;
}

}  // namespace

ModelFigures measure_model_file(const std::string& path) {
  ir::Model m = onnx_io::load_model(path);
  return measure_model(m, path);
}

ModelFigures measure_model(ir::Model& m, const std::string& path) {
  ModelFigures f;
  const ir::ModelStats stats = ir::compute_model_stats(*m.graph);
  f.parameters = stats.parameters;
  double nonzero = 0;
  for (const ir::WeightStats& w : stats.weights) {
    if (w.is_parameter) nonzero += static_cast<double>(w.numel) * (1.0 - w.sparsity);
  }
  f.nonzero_parameters = std::llround(nonzero);
  // A device output (/dev/null) holds nothing to read back: it received the serialized model.
  std::string bytes;
  if (std::filesystem::is_regular_file(path)) {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    bytes = onnx_io::serialize_model(m);
  }
  f.file_bytes = static_cast<int64_t>(bytes.size());
  f.gzip_bytes = gzip_size(bytes);
  f.macs = kernels::model_macs(m).macs;
  return f;
}

nlohmann::json to_json(const ModelFigures& f) {
  return {{"parameters", f.parameters}, {"nonzero_parameters", f.nonzero_parameters}, {"macs_per_sample", f.macs ? nlohmann::json(*f.macs) : nullptr},
          {"file_bytes", f.file_bytes}, {"gzip_bytes", f.gzip_bytes}};
}

}  // namespace scalec::cli
