#pragma once
// The taps of a pooling window that lie inside the input, shared by the pooling kernels
// (kernels/cpu/pool.cpp) and their backward (kernels/cpu/pool_backward.cpp): per-axis tables of the
// first and last valid tap of each window, so padding costs no per-tap branch.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/common/window_size.h"
#include "kernels/cpu/pool.h"

namespace scalec::kernels {

/// Per-axis tables, indexed by output position: the first input position of the window and the
/// range [k_lo, k_hi) of taps inside the input.
struct AxisTaps {
  std::vector<int64_t> start, k_lo, k_hi;
};

/// The tables of spatial axis `a` of `g`.
inline AxisTaps axis_taps(const PoolGeometry& g, size_t a) {
  AxisTaps t;
  const int64_t n = g.out[a], k = g.kernel[a], d = g.dilation[a], in = g.in[a];
  t.start.resize(n);
  t.k_lo.resize(n);
  t.k_hi.resize(n);
  for (int64_t o = 0; o < n; ++o) {
    const int64_t s = o * g.stride[a] - g.pad_begin[a];
    t.start[o] = s;
    t.k_lo[o] = s >= 0 ? 0 : std::min(k, window_ceil_div(-s, d));
    t.k_hi[o] = std::max(t.k_lo[o], std::min(k, std::max<int64_t>(0, window_ceil_div(in - s, d))));
  }
  return t;
}

/// Calls f(offset in plane) for every valid tap of the window at output position `o` (k: scratch
/// of one entry per axis); returns the number of taps visited.
template <typename F>
int64_t for_each_tap_offset(const PoolGeometry& g, const std::vector<AxisTaps>& taps,
                            const std::vector<int64_t>& in_strides, const int64_t* o, int64_t* k, F&& f) {
  const size_t r = g.in.size();
  int64_t count = 1;
  for (size_t a = 0; a < r; ++a) {
    const int64_t lo = taps[a].k_lo[o[a]], hi = taps[a].k_hi[o[a]];
    if (lo >= hi) return 0;
    count *= hi - lo;
    k[a] = lo;
  }
  const size_t last = r - 1;
  const int64_t s_last = taps[last].start[o[last]], d_last = g.dilation[last];
  const int64_t lo_last = taps[last].k_lo[o[last]], hi_last = taps[last].k_hi[o[last]];
  while (true) {
    int64_t base = s_last;
    for (size_t a = 0; a < last; ++a) base += (taps[a].start[o[a]] + k[a] * g.dilation[a]) * in_strides[a];
    for (int64_t kk = lo_last; kk < hi_last; ++kk) f(base + kk * d_last);
    size_t a = last;
    while (a-- > 0) {
      if (++k[a] < taps[a].k_hi[o[a]]) break;
      k[a] = taps[a].k_lo[o[a]];
    }
    if (a == static_cast<size_t>(-1)) break;
  }
  return count;
}

/// Calls f(value, offset in plane) for every valid tap of the window at output position `o`;
/// returns the number of taps visited.
template <typename T, typename F>
int64_t for_each_tap(const T* plane, const PoolGeometry& g, const std::vector<AxisTaps>& taps,
                     const std::vector<int64_t>& in_strides, const int64_t* o, int64_t* k, F&& f) {
  return for_each_tap_offset(g, taps, in_strides, o, k, [&](int64_t off) { f(plane[off], off); });
}

}  // namespace scalec::kernels
