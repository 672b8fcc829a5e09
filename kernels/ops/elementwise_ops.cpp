// Binary arithmetic, comparison and logical ops, and the variadic Sum/Min/Max/Mean, with numpy
// broadcasting (opset 7+) and the legacy `broadcast`/`axis` attributes (opsets 1-6).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/error.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/ops/op_args.h"
#include "kernels/ops/op_registry.h"

namespace scalec::kernels {

namespace {

using ir::DType;
using ir::Tensor;

// Opsets before 7 broadcast B only when broadcast=1, aligning it at `axis` (default: suffix).
Tensor legacy_broadcast_rhs(const OpContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset() >= 7 || a.shape() == b.shape()) return b;
  if (ctx.attr_int("broadcast", 0) == 0) {
    throw_bad_input("{} shapes {} and {} differ and broadcast=0", ctx.where(), ir::shape_to_string(a.shape()),
                    ir::shape_to_string(b.shape()));
  }
  std::vector<int64_t> shape = b.shape();
  shape.resize(shape.size() + static_cast<size_t>(legacy_broadcast_padding(ctx, a.rank(), b.rank())), 1);
  return Tensor(b.dtype(), shape, b.storage());
}

template <typename T>
T python_mod(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    T r = std::fmod(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
  } else {
    if (b == 0) return 0;
    T r = static_cast<T>(a % b);
    if constexpr (std::is_signed_v<T>) {
      if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
    }
    return r;
  }
}

// Registers a same-type arithmetic op: out = op(a, b).
template <typename Op>
ForwardFn arithmetic(Op op) {
  return [op](const OpContext& ctx) {
    const Tensor& a = ctx.input(0);
    Tensor b = legacy_broadcast_rhs(ctx, a, ctx.input(1));
    if (a.dtype() != b.dtype()) {
      throw_bad_input("{} input types differ: {} and {}", ctx.where(), ir::dtype_name(a.dtype()), ir::dtype_name(b.dtype()));
    }
    return std::vector<Tensor>{dispatch_numeric(a.dtype(), ctx.where(), [&](auto t) {
      using T = decltype(t);
      if constexpr (std::is_same_v<T, bool>) {
        throw_bad_input("{} does not support element type bool", ctx.where());
        return Tensor();
      } else {
        return binary_map<T, T, T>(ctx.pool(), a, b, ctx.where(), [&](T x, T y) { return op(x, y); });
      }
    })};
  };
}

// Registers a comparison: bool out = cmp(a, b).
template <typename Cmp>
ForwardFn comparison(Cmp cmp) {
  return [cmp](const OpContext& ctx) {
    const Tensor& a = ctx.input(0);
    Tensor b = legacy_broadcast_rhs(ctx, a, ctx.input(1));
    if (a.dtype() != b.dtype()) throw_bad_input("{} input types differ", ctx.where());
    return std::vector<Tensor>{dispatch_numeric(a.dtype(), ctx.where(), [&](auto t) {
      using T = decltype(t);
      return binary_map<bool, T, T>(ctx.pool(), a, b, ctx.where(), [&](T x, T y) { return cmp(x, y); });
    })};
  };
}

template <typename Op>
ForwardFn logical(Op op) {
  return [op](const OpContext& ctx) {
    const Tensor& a = ctx.input(0);
    Tensor b = legacy_broadcast_rhs(ctx, a, ctx.input(1));
    if (a.dtype() != DType::kBool || b.dtype() != DType::kBool) throw_bad_input("{} needs bool inputs", ctx.where());
    return std::vector<Tensor>{binary_map<bool, bool, bool>(ctx.pool(), a, b, ctx.where(), op)};
  };
}

// Sum, Min, Max, Mean over any number of inputs, folding left with broadcasting.
template <typename Op>
ForwardFn variadic(Op op, bool mean) {
  return [op, mean](const OpContext& ctx) {
    Tensor acc = ctx.input(0);
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
      const Tensor& next = ctx.input(i);
      acc = dispatch_numeric(acc.dtype(), ctx.where(), [&](auto t) {
        using T = decltype(t);
        return binary_map<T, T, T>(ctx.pool(), acc, next, ctx.where(), [&](T x, T y) { return op(x, y); });
      });
    }
    if (mean) {
      auto n = static_cast<double>(ctx.num_inputs());
      acc = dispatch_float(acc.dtype(), ctx.where(), [&](auto t) {
        using T = decltype(t);
        return unary_map<T, T>(ctx.pool(), acc, [n](T x) { return static_cast<T>(x / n); });
      });
    }
    return std::vector<Tensor>{acc};
  };
}

}  // namespace

int64_t legacy_broadcast_padding(const NodeAttrs& ctx, int64_t rank_a, int64_t rank_b) {
  int64_t axis = ctx.attr_int("axis", rank_a - rank_b);
  if (axis < 0) axis += rank_a;
  return std::max<int64_t>(0, rank_a - (axis + rank_b));
}

void register_elementwise_ops(OpRegistry& r) {
  auto add = [](auto x, auto y) { return x + y; };
  auto sub = [](auto x, auto y) { return x - y; };
  auto mul = [](auto x, auto y) { return x * y; };
  auto div = [](auto x, auto y) {
    using T = decltype(x);
    if constexpr (std::is_integral_v<T>) {
      return y == 0 ? T(0) : static_cast<T>(x / y);  // integer division truncates, as ONNX Runtime does
    } else {
      return x / y;
    }
  };
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    std::string name = op;
    ForwardFn fn = name == "Add" ? arithmetic(add) : name == "Sub" ? arithmetic(sub) : name == "Mul" ? arithmetic(mul) : arithmetic(div);
    r.add(name, 1, kLatestOpset, fn);
  }
  // Pow: the exponent may have another type (opset 12+); computed in double.
  r.add("Pow", 1, kLatestOpset, [](const OpContext& ctx) {
    const Tensor& a = ctx.input(0);
    Tensor b = legacy_broadcast_rhs(ctx, a, ctx.input(1));
    return std::vector<Tensor>{dispatch_numeric(a.dtype(), ctx.where(), [&](auto ta) {
      using A = decltype(ta);
      return dispatch_numeric(b.dtype(), ctx.where(), [&](auto tb) {
        using B = decltype(tb);
        return binary_map<A, A, B>(ctx.pool(), a, b, ctx.where(), [](A x, B y) {
          const double p = std::pow(static_cast<double>(x), static_cast<double>(y));
          if constexpr (std::is_integral_v<A>) {
            // Integer results past A's range saturate (a cast of inf or 2^70 is undefined behaviour;
            // found by scalec_fuzz_executor); NaN (0^-1 is inf, (-8)^0.5 NaN) gives 0.
            if (std::isnan(p)) return A{0};
            if (p <= static_cast<double>(std::numeric_limits<A>::lowest())) return std::numeric_limits<A>::lowest();
            if (p >= static_cast<double>(std::numeric_limits<A>::max())) return std::numeric_limits<A>::max();
          }
          return static_cast<A>(p);
        });
      });
    })};
  });
  r.add("Mod", 10, kLatestOpset, [](const OpContext& ctx) {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    bool fmod = ctx.attr_int("fmod", 0) != 0;
    return std::vector<Tensor>{dispatch_numeric(a.dtype(), ctx.where(), [&](auto t) {
      using T = decltype(t);
      return binary_map<T, T, T>(ctx.pool(), a, b, ctx.where(), [fmod](T x, T y) -> T {
        if constexpr (std::is_floating_point_v<T>) {
          return fmod ? std::fmod(x, y) : python_mod(x, y);
        } else if constexpr (std::is_same_v<T, bool>) {
          (void)fmod;  // bool Mod is x either way (clang warns the capture is unused here)
          return x;
        } else {
          if (y == 0) return 0;
          return fmod ? static_cast<T>(x % y) : python_mod(x, y);
        }
      });
    })};
  });
  r.add("Equal", 1, kLatestOpset, comparison([](auto x, auto y) { return x == y; }));
  r.add("Less", 1, kLatestOpset, comparison([](auto x, auto y) { return x < y; }));
  r.add("Greater", 1, kLatestOpset, comparison([](auto x, auto y) { return x > y; }));
  r.add("LessOrEqual", 12, kLatestOpset, comparison([](auto x, auto y) { return x <= y; }));
  r.add("GreaterOrEqual", 12, kLatestOpset, comparison([](auto x, auto y) { return x >= y; }));
  r.add("And", 1, kLatestOpset, logical([](bool x, bool y) { return x && y; }));
  r.add("Or", 1, kLatestOpset, logical([](bool x, bool y) { return x || y; }));
  r.add("Xor", 1, kLatestOpset, logical([](bool x, bool y) { return x != y; }));
  r.add("Not", 1, kLatestOpset, [](const OpContext& ctx) {
    return std::vector<Tensor>{unary_map<bool, bool>(ctx.pool(), ctx.input(0), [](bool x) { return !x; })};
  });
  // Sum/Min/Max/Mean: opsets 1-7 had different broadcasting rules; 8+ broadcast numpy-style.
  auto max_op = [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>) {
      if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<decltype(x)>::quiet_NaN();
    }
    return x < y ? y : x;
  };
  auto min_op = [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>) {
      if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<decltype(x)>::quiet_NaN();
    }
    return y < x ? y : x;
  };
  r.add("Sum", 6, kLatestOpset, variadic(add, false));
  r.add("Mean", 6, kLatestOpset, variadic(add, true));
  r.add("Max", 6, kLatestOpset, variadic(max_op, false));
  r.add("Min", 6, kLatestOpset, variadic(min_op, false));
  // Where(condition, X, Y) with three-way broadcasting.
  r.add("Where", 9, kLatestOpset, [](const OpContext& ctx) {
    const Tensor& c = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& y = ctx.input(2);
    std::vector<int64_t> shape = broadcast_shape({c.shape(), x.shape(), y.shape()}, ctx.where());
    const std::vector<int64_t> strides[3] = {broadcast_strides(c.shape(), shape), broadcast_strides(x.shape(), shape),
                                             broadcast_strides(y.shape(), shape)};
    if (x.dtype() == ir::DType::kString) throw_bad_input("{} does not support strings", ctx.where());
    Tensor out(x.dtype(), shape);
    const bool* pc = c.values<bool>().data();
    size_t elem = static_cast<size_t>(ir::dtype_bits(x.dtype()) / 8);
    const std::byte* px = x.bytes().data();
    const std::byte* py = y.bytes().data();
    std::byte* po = out.mutable_bytes().data();
    ctx.pool().parallel_for(out.numel(), kElementwiseGrain, [&](int64_t lo, int64_t hi) {
      for_each_broadcast<3>(shape, strides, lo, hi, [&](int64_t i, const int64_t* off) {
        const std::byte* src = pc[off[0]] ? px + off[1] * static_cast<int64_t>(elem) : py + off[2] * static_cast<int64_t>(elem);
        std::memcpy(po + i * static_cast<int64_t>(elem), src, elem);
      });
    });
    return std::vector<Tensor>{out};
  });
}

}  // namespace scalec::kernels
