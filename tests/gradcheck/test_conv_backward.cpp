// The nn backward kernels (kernels/cpu/conv_backward.h, kernels/cpu/matmul_backward.h) against
// naive loops written from the definitions, in float and double, on 1 and several threads: the
// paths finite differences (one thread, double) do not reach — dW's per-chunk partial sums, GEMMs
// split over the pool, the float instantiation — and run-to-run determinism.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_backward.h"
#include "kernels/cpu/matmul_backward.h"
#include "kernels/cpu/thread_pool.h"
#include "support/gradcheck.h"
#include "support/tolerance.h"

using namespace scalec;
using ir::DType;
using ir::Tensor;
using kernels::ConvGeometry;

namespace {

using Ints = std::vector<int64_t>;

Tensor as_float(const Tensor& t) {
  Tensor f(DType::kFloat, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) f.mutable_values<float>()[i] = static_cast<float>(t.values<double>()[i]);
  return f;
}

// "" when every element of got is near ref (doubles), else the first mismatch.
std::string compare(const Tensor& got, const std::vector<double>& ref, double tol) {
  if (got.numel() != static_cast<int64_t>(ref.size())) return "size differs";
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double v = got.element_as_double(i);
    if (!test::near(v, ref[static_cast<size_t>(i)], tol, tol)) {
      return "element " + std::to_string(i) + ": " + std::to_string(v) + " vs " + std::to_string(ref[static_cast<size_t>(i)]);
    }
  }
  return "";
}

// The naive gradients of Conv (transpose = false) or ConvTranspose: every (image, output channel,
// window position, input channel of the group, tap) term of the forward sum, differentiated.
struct NaiveGrads {
  std::vector<double> dx, dw, db;
};

NaiveGrads naive(const Tensor& x, const Tensor& w, const Tensor& dy, const ConvGeometry& g, bool transpose) {
  NaiveGrads r;
  r.dx.assign(static_cast<size_t>(x.numel()), 0.0);
  r.dw.assign(static_cast<size_t>(w.numel()), 0.0);
  r.db.assign(static_cast<size_t>(g.out_channels), 0.0);
  const int64_t cg = g.in_channels / g.groups, mg = g.out_channels / g.groups;
  // Conv: the kernel slides over X (g.in) at positions g.out; ConvTranspose the other way round.
  const auto& image = transpose ? g.out : g.in;
  const auto& grid = transpose ? g.in : g.out;
  const int64_t ivol = kernels::conv_volume(image), pvol = kernels::conv_volume(grid), kvol = kernels::conv_volume(g.kernel);
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      for (int64_t ml = 0; ml < mg; ++ml) {
        const int64_t m = grp * mg + ml;
        for (int64_t cl = 0; cl < cg; ++cl) {
          const int64_t c = grp * cg + cl;
          for (int64_t pos = 0; pos < pvol; ++pos) {
            const int64_t p[3] = {pos / (grid[1] * grid[2]), pos / grid[2] % grid[1], pos % grid[2]};
            for (int64_t k = 0; k < kvol; ++k) {
              const int64_t kk[3] = {k / (g.kernel[1] * g.kernel[2]), k / g.kernel[2] % g.kernel[1], k % g.kernel[2]};
              int64_t at = 0;
              bool inside = true;
              for (int a = 0; a < 3; ++a) {
                const int64_t i = p[a] * g.stride[a] - g.pad_begin[a] + kk[a] * g.dilation[a];
                inside = inside && i >= 0 && i < image[a];
                at = at * image[a] + i;
              }
              if (!inside) continue;
              // Conv: y[n, m, pos] += x[n, c, at] w[m, cl, k].  ConvT: y[n, m, at] += x[n, c, pos] w[c, ml, k].
              const int64_t xi = (n * g.in_channels + c) * (transpose ? pvol : ivol) + (transpose ? pos : at);
              const int64_t yi = (n * g.out_channels + m) * (transpose ? ivol : pvol) + (transpose ? at : pos);
              const int64_t wi = transpose ? (c * mg + ml) * kvol + k : (m * cg + cl) * kvol + k;
              const double gy = dy.element_as_double(yi);
              r.dx[static_cast<size_t>(xi)] += gy * w.element_as_double(wi);
              r.dw[static_cast<size_t>(wi)] += gy * x.element_as_double(xi);
            }
          }
        }
      }
    }
  }
  const int64_t q = kernels::conv_volume(g.out);
  for (int64_t i = 0; i < dy.numel(); ++i) r.db[static_cast<size_t>(i / q % g.out_channels)] += dy.element_as_double(i);
  return r;
}

struct KernelCase {
  const char* what;
  Ints x, w;
  kernels::ConvAttrs attrs;
};

void check_case(const KernelCase& c, bool transpose, uint64_t seed) {
  INFO(c.what << (transpose ? " (ConvTranspose)" : " (Conv)"));
  const ConvGeometry g = transpose ? kernels::conv_transpose_geometry(c.attrs, c.x, c.w, "test")
                                   : kernels::conv_geometry(c.attrs, c.x, c.w, "test");
  const Tensor x = test::random_doubles(c.x, seed), w = test::random_doubles(c.w, seed + 1);
  const Tensor dy = test::random_doubles(g.output_shape(), seed + 2);
  const NaiveGrads ref = naive(x, w, dy, g, transpose);
  auto run = [&](kernels::ThreadPool& pool, const Tensor& tx, const Tensor& tw, const Tensor& tdy) {
    return transpose ? kernels::conv_transpose_backward_cpu(pool, tx, tw, tdy, g, {}, "test")
                     : kernels::conv_backward_cpu(pool, tx, tw, tdy, g, {}, "test");
  };
  for (int threads : {1, 3, 4}) {
    INFO(threads << " threads");
    kernels::ThreadPool pool(threads);
    const kernels::ConvGrads d = run(pool, x, w, dy);
    CHECK(compare(d.dx, ref.dx, 1e-12) == "");
    CHECK(compare(d.dw, ref.dw, 1e-12) == "");
    CHECK(compare(d.db, ref.db, 1e-12) == "");
    // float: sums of up to a few thousand products of values in [-1, 1].
    const kernels::ConvGrads f = run(pool, as_float(x), as_float(w), as_float(dy));
    CHECK(f.dw.dtype() == DType::kFloat);
    CHECK(compare(f.dx, ref.dx, 1e-4) == "");
    CHECK(compare(f.dw, ref.dw, 1e-4) == "");
    CHECK(compare(f.db, ref.db, 1e-4) == "");
    // The same thread count gives the same bytes.
    const kernels::ConvGrads again = run(pool, as_float(x), as_float(w), as_float(dy));
    CHECK(std::equal(f.dw.bytes().begin(), f.dw.bytes().end(), again.dw.bytes().begin()));
    CHECK(std::equal(f.dx.bytes().begin(), f.dx.bytes().end(), again.dx.bytes().begin()));
  }
}

}  // namespace

TEST_CASE("Conv and ConvTranspose backward kernels match naive loops on several threads", "[gradcheck][nn][kernel]") {
  kernels::ConvAttrs plain;
  kernels::ConvAttrs strided;
  strided.strides = {2, 1};
  strided.pads = {1, 0, 0, 2};
  strided.dilations = {1, 2};
  kernels::ConvAttrs grouped = strided;
  grouped.group = 2;
  kernels::ConvAttrs depthwise;
  depthwise.group = 4;
  depthwise.pads = {1, 1, 1, 1};
  kernels::ConvAttrs three_d;
  three_d.strides = {1, 2, 1};
  three_d.pads = {0, 1, 1, 1, 0, 1};
  const std::vector<KernelCase> conv_cases = {
      {"batch 5, one group (dW partial sums)", {5, 3, 6, 7}, {4, 3, 3, 3}, plain},
      {"strides, pads, dilations", {3, 4, 7, 8}, {6, 4, 3, 2}, strided},
      {"groups", {5, 4, 7, 8}, {6, 2, 3, 2}, grouped},
      {"depthwise (groups >= threads)", {2, 4, 5, 6}, {4, 1, 3, 3}, depthwise},
      {"1x1 direct", {3, 5, 4, 4}, {3, 5, 1, 1}, plain},
      {"3-D", {2, 2, 4, 5, 4}, {3, 2, 2, 2, 3}, three_d},
      // One image of 2.4 M multiply-adds per GEMM: the GEMMs themselves are split over the pool.
      {"large single image", {1, 16, 18, 18}, {32, 16, 3, 3}, plain},
  };
  uint64_t seed = 11;
  for (const KernelCase& c : conv_cases) check_case(c, false, seed += 5);

  const std::vector<KernelCase> transpose_cases = {
      {"batch 5, one group", {5, 3, 4, 5}, {3, 2, 3, 3}, plain},
      {"strides, pads, dilations", {3, 4, 4, 5}, {4, 3, 3, 2}, strided},
      {"groups", {5, 4, 4, 4}, {4, 3, 3, 2}, grouped},
      {"depthwise", {2, 4, 5, 6}, {4, 1, 3, 3}, depthwise},
      {"1x1 direct", {3, 5, 4, 4}, {5, 3, 1, 1}, plain},
      {"3-D", {2, 2, 3, 3, 3}, {2, 3, 2, 2, 3}, three_d},
      {"large single image", {1, 32, 16, 16}, {32, 16, 3, 3}, plain},
  };
  for (const KernelCase& c : transpose_cases) check_case(c, true, seed += 5);
}

TEST_CASE("MatMul and Gemm backward kernels match naive loops on several threads", "[gradcheck][nn][kernel]") {
  struct Case {
    Ints a, b;
  };
  // Small and large products, shared and broadcast operands (large: the GEMMs are split).
  const std::vector<Case> cases = {{{6, 5, 7}, {7, 3}}, {{2, 3, 5, 7}, {3, 7, 4}}, {{5, 7}, {6, 7, 4}},
                                   {{2, 96, 80}, {80, 64}}, {{96, 80}, {3, 80, 64}}, {{2, 1, 64, 70}, {1, 3, 70, 64}}};
  uint64_t seed = 77;
  for (const Case& c : cases) {
    INFO(ir::shape_to_string(c.a) << " x " << ir::shape_to_string(c.b));
    const Tensor a = test::random_doubles(c.a, seed += 3), b = test::random_doubles(c.b, seed + 1);
    // The batch shape and the product's size, from the operands.
    const int64_t m = c.a[c.a.size() - 2], k = c.a.back(), n = c.b.back();
    Ints batch;
    const size_t rank = std::max(c.a.size(), c.b.size()) - 2;
    for (size_t i = 0; i < rank; ++i) {
      const size_t ia = i + c.a.size() - 2 - rank, ib = i + c.b.size() - 2 - rank;
      const int64_t da = i + c.a.size() >= rank + 2 ? c.a[ia] : 1;
      const int64_t db = i + c.b.size() >= rank + 2 ? c.b[ib] : 1;
      batch.push_back(std::max(da, db));
    }
    Ints y_shape = batch;
    y_shape.push_back(m);
    y_shape.push_back(n);
    const Tensor dy = test::random_doubles(y_shape, seed + 2);
    // Naive: dA[ai, i, l] += dY[bi, i, j] B[bj, l, j]; dB[bj, l, j] += A[ai, i, l] dY[bi, i, j].
    std::vector<double> da(static_cast<size_t>(a.numel()), 0.0), dbv(static_cast<size_t>(b.numel()), 0.0);
    const int64_t batches = dy.numel() / (m * n), a_mats = a.numel() / (m * k), b_mats = b.numel() / (k * n);
    for (int64_t bi = 0; bi < batches; ++bi) {
      // Batch index -> operand matrix (each operand's batch dims broadcast from the right).
      int64_t ai = 0, bj = 0, rem = bi, scale_a = 1, scale_b = 1;
      for (size_t d = rank; d-- > 0;) {
        const int64_t idx = rem % batch[d];
        rem /= batch[d];
        const int64_t da_dim = d + c.a.size() >= rank + 2 ? c.a[d + c.a.size() - 2 - rank] : 1;
        const int64_t db_dim = d + c.b.size() >= rank + 2 ? c.b[d + c.b.size() - 2 - rank] : 1;
        ai += (da_dim == 1 ? 0 : idx) * scale_a;
        bj += (db_dim == 1 ? 0 : idx) * scale_b;
        scale_a *= da_dim;
        scale_b *= db_dim;
      }
      REQUIRE(ai < a_mats);
      REQUIRE(bj < b_mats);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          const double g = dy.values<double>()[(bi * m + i) * n + j];
          for (int64_t l = 0; l < k; ++l) {
            da[(ai * m + i) * k + l] += g * b.values<double>()[(bj * k + l) * n + j];
            dbv[(bj * k + l) * n + j] += g * a.values<double>()[(ai * m + i) * k + l];
          }
        }
      }
    }
    for (int threads : {1, 3}) {
      kernels::ThreadPool pool(threads);
      auto [ga, gb] = kernels::matmul_backward_cpu(pool, a, b, dy, true, true, "test");
      CHECK(compare(ga, da, 1e-12) == "");
      CHECK(compare(gb, dbv, 1e-12) == "");
      auto [fa, fb] = kernels::matmul_backward_cpu(pool, as_float(a), as_float(b), as_float(dy), true, true, "test");
      CHECK(compare(fa, da, 1e-4) == "");
      CHECK(compare(fb, dbv, 1e-4) == "");
    }
  }
  // Gemm on a product large enough to be split: dA, dB for transA = transB = 1 against MatMul's.
  kernels::ThreadPool pool(3);
  const Tensor a = test::random_doubles({90, 70}, 5), b = test::random_doubles({60, 90}, 6);  // A^T [70, 90], B^T [90, 60]
  const Tensor dy = test::random_doubles({70, 60}, 7);
  auto [ga, gb] = kernels::gemm_backward_cpu(pool, a, b, dy, true, true, 2.0, true, true, "test");
  for (int64_t i = 0; i < 70; ++i) {
    for (int64_t l = 0; l < 90; ++l) {
      double s = 0;  // dA[l, i] = 2 sum_j dY[i, j] B[j, l]
      for (int64_t j = 0; j < 60; ++j) s += dy.values<double>()[i * 60 + j] * b.values<double>()[j * 90 + l];
      REQUIRE(test::near(ga.values<double>()[l * 70 + i], 2 * s, 1e-12, 1e-12));
    }
  }
  for (int64_t j = 0; j < 60; ++j) {
    for (int64_t l = 0; l < 90; ++l) {
      double s = 0;  // dB[j, l] = 2 sum_i dY[i, j] A[l, i]
      for (int64_t i = 0; i < 70; ++i) s += dy.values<double>()[i * 60 + j] * a.values<double>()[l * 70 + i];
      REQUIRE(test::near(gb.values<double>()[j * 90 + l], 2 * s, 1e-12, 1e-12));
    }
  }
}
