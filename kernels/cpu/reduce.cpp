// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
// ReduceLogSumExp, ReduceSumSquare on the CPU, and the ReducePlan they share.
#include "kernels/cpu/reduce.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "ir/error.h"
#include "kernels/cpu/broadcast.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/thread_pool.h"

namespace scalec::kernels {

std::vector<int64_t> reduce_normalize_axes(std::vector<int64_t> axes, int64_t rank, const std::string& where) {
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank) throw_bad_input("{} axis {} is out of range for rank {}", where, a, rank);
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) throw_bad_input("{} an axis is listed twice", where);
  return axes;
}

ReducePlan make_reduce_plan(const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool keepdims,
                            const std::string& where) {
  const size_t rank = shape.size();
  if (rank > 2 * ReducePlan::kMaxMerged) throw_bad_input("{} rank {} is above 64", where, rank);
  std::vector<bool> reduced(rank, false);
  for (int64_t a : axes) reduced[static_cast<size_t>(a)] = true;
  std::vector<int64_t> strides = contiguous_strides(shape);
  ReducePlan p;
  // Previous kept (0) or reduced (1) dim kind, for merging runs; -1 = none yet.
  int prev = -1;
  for (size_t d = 0; d < rank; ++d) {
    const int64_t n = shape[d];
    if (reduced[d]) {
      p.reduce_count *= n;
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.out_count *= n;
      p.out_shape.push_back(n);
    }
    if (n == 1) continue;
    auto& dims = reduced[d] ? p.red_dims : p.kept_dims;
    auto& st = reduced[d] ? p.red_strides : p.kept_strides;
    int kind = reduced[d] ? 1 : 0;
    if (prev == kind) {
      dims.back() *= n;
      st.back() = strides[d];
    } else {
      dims.push_back(n);
      st.push_back(strides[d]);
    }
    prev = kind;
  }
  return p;
}

namespace {

// Sums of integers wrap in 64 bits (then narrow), as ONNX Runtime's do; floats sum in double.
template <typename T>
using WideSum = std::conditional_t<std::is_floating_point_v<T>, double,
                                   std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// A reduction as a monoid: init, step (fold one element), merge (fold a partial), finish.
template <typename T, ReduceKind K>
struct Reducer {
  static constexpr bool kDoubleAcc = K == ReduceKind::kL2 || K == ReduceKind::kLogSum;
  using Acc = std::conditional_t<kDoubleAcc, double, WideSum<T>>;
  static Acc init() { return K == ReduceKind::kProd ? Acc(1) : Acc(0); }
  static void step(Acc& a, T x) {
    const Acc v = static_cast<Acc>(x);
    if constexpr (K == ReduceKind::kProd) {
      a *= v;
    } else if constexpr (K == ReduceKind::kL1) {
      if constexpr (std::is_signed_v<Acc>) a += v < 0 ? Acc(0) - v : v;
      else a += v;
    } else if constexpr (K == ReduceKind::kL2 || K == ReduceKind::kSumSquare) {
      a += v * v;
    } else {
      a += v;
    }
  }
  static void merge(Acc& a, const Acc& b) {
    if constexpr (K == ReduceKind::kProd) a *= b;
    else a += b;
  }
  static T finish(const Acc& a, int64_t n) {
    if constexpr (K == ReduceKind::kMean) {
      if constexpr (std::is_floating_point_v<T>) return static_cast<T>(a / static_cast<double>(n));
      else return n == 0 ? T(0) : static_cast<T>(a / static_cast<Acc>(n));
    } else if constexpr (K == ReduceKind::kL2) {
      return static_cast<T>(std::sqrt(a));
    } else if constexpr (K == ReduceKind::kLogSum) {
      return static_cast<T>(std::log(a));
    } else {
      return static_cast<T>(a);
    }
  }
};

// Max and min propagate NaN; an empty reduction gives the identity (-inf / the type's lowest).
template <typename T, bool kMax>
struct ExtremeReducer {
  using Acc = T;
  static T init() {
    if constexpr (std::is_same_v<T, bool>) return !kMax;
    else if constexpr (std::is_floating_point_v<T>) return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else return kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
  static void step(T& a, T x) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x)) a = x;
      else if (kMax ? x > a : x < a) a = x;
    } else {
      if (kMax ? x > a : x < a) a = x;
    }
  }
  static void merge(T& a, const T& b) { step(a, b); }
  static T finish(const T& a, int64_t) { return a; }
};

// log(sum(exp(x))) in one pass: keep the running max m and sum(exp(x - m)).
template <typename T>
struct LogSumExpReducer {
  struct Acc {
    double m = -std::numeric_limits<double>::infinity();
    double s = 0;
  };
  static Acc init() { return {}; }
  static void add(Acc& a, double m, double s) {
    if (s == 0) return;
    if (m > a.m) {
      a.s = a.s * std::exp(a.m - m) + s;
      a.m = m;
    } else if (m == a.m) {
      a.s += s;  // also covers m = a.m = +inf, where exp(m - a.m) would be NaN
    } else {
      a.s += s * std::exp(m - a.m);
    }
  }
  static void step(Acc& a, T x) {
    const double v = static_cast<double>(x);
    if (std::isnan(v)) a.s = v;
    else if (v != -std::numeric_limits<double>::infinity()) add(a, v, 1.0);
  }
  static void merge(Acc& a, const Acc& b) {
    if (std::isnan(b.s)) a.s = b.s;
    else add(a, b.m, b.s);
  }
  static T finish(const Acc& a, int64_t) { return static_cast<T>(a.m + std::log(a.s)); }
};

// Reductions of at least this many elements feeding few outputs are split into fixed blocks
// (folded in block order), so that one big reduction still uses every thread; the split depends
// on the shape only, never on the thread count.
constexpr int64_t kBlock = 16384;
constexpr int64_t kFewOutputs = 64;
constexpr int64_t kGrainElements = 32768;

template <typename T, typename R>
void reduce_with(ThreadPool& pool, const T* x, T* y, const ReducePlan& p) {
  using Acc = typename R::Acc;
  const int64_t n = p.reduce_count;
  if (n >= 4 * kBlock && p.out_count < kFewOutputs) {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::vector<Acc> partial(static_cast<size_t>(p.out_count * blocks));
    pool.parallel_for(p.out_count * blocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        const int64_t o = j / blocks, b = j % blocks;
        Acc a = R::init();
        p.visit_range(p.base_offset(o), b * kBlock, std::min(n, (b + 1) * kBlock), [&](int64_t off) { R::step(a, x[off]); });
        partial[static_cast<size_t>(j)] = a;
      }
    });
    for (int64_t o = 0; o < p.out_count; ++o) {
      Acc a = partial[static_cast<size_t>(o * blocks)];
      for (int64_t b = 1; b < blocks; ++b) R::merge(a, partial[static_cast<size_t>(o * blocks + b)]);
      y[o] = R::finish(a, n);
    }
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, n));
  pool.parallel_for(p.out_count, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      Acc a = R::init();
      p.visit(p.base_offset(o), [&](int64_t off) { R::step(a, x[off]); });
      y[o] = R::finish(a, n);
    }
  });
}

template <typename T>
void reduce_typed(ReduceKind kind, ThreadPool& pool, const T* x, T* y, const ReducePlan& p) {
  switch (kind) {
    case ReduceKind::kSum: return reduce_with<T, Reducer<T, ReduceKind::kSum>>(pool, x, y, p);
    case ReduceKind::kMean: return reduce_with<T, Reducer<T, ReduceKind::kMean>>(pool, x, y, p);
    case ReduceKind::kProd: return reduce_with<T, Reducer<T, ReduceKind::kProd>>(pool, x, y, p);
    case ReduceKind::kL1: return reduce_with<T, Reducer<T, ReduceKind::kL1>>(pool, x, y, p);
    case ReduceKind::kL2: return reduce_with<T, Reducer<T, ReduceKind::kL2>>(pool, x, y, p);
    case ReduceKind::kLogSum: return reduce_with<T, Reducer<T, ReduceKind::kLogSum>>(pool, x, y, p);
    case ReduceKind::kSumSquare: return reduce_with<T, Reducer<T, ReduceKind::kSumSquare>>(pool, x, y, p);
    case ReduceKind::kLogSumExp: return reduce_with<T, LogSumExpReducer<T>>(pool, x, y, p);
    case ReduceKind::kMax: return reduce_with<T, ExtremeReducer<T, true>>(pool, x, y, p);
    case ReduceKind::kMin: return reduce_with<T, ExtremeReducer<T, false>>(pool, x, y, p);
  }
}

}  // namespace

ir::Tensor reduce_forward_cpu(ReduceKind kind, ThreadPool& pool, const ir::Tensor& x, const std::vector<int64_t>& axes,
                              bool keepdims, const std::string& where) {
  ReducePlan p = make_reduce_plan(x.shape(), axes, keepdims, where);
  ir::Tensor out(x.dtype(), p.out_shape);
  dispatch_numeric(x.dtype(), where, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      if (kind != ReduceKind::kMax && kind != ReduceKind::kMin) {
        throw_bad_input("{} does not support element type bool", where);
      }
      const bool* px = x.values<bool>().data();
      bool* py = out.mutable_values<bool>().data();
      if (kind == ReduceKind::kMax) reduce_with<bool, ExtremeReducer<bool, true>>(pool, px, py, p);
      else reduce_with<bool, ExtremeReducer<bool, false>>(pool, px, py, p);
    } else {
      reduce_typed<T>(kind, pool, x.values<T>().data(), out.mutable_values<T>().data(), p);
    }
  });
  return out;
}

}  // namespace scalec::kernels
