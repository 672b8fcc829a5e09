#pragma once
// Mixed precision for `scalec quantize --target-drop P`: the most sensitive layers are kept at higher
// precision — K bits -> 8 bits -> float — until the top-1 drop on --val is within P.
//
// The layers are ranked once, as `scalec sensitivity --bits K` ranks them (each alone quantized at K
// bits, QDQ, activations calibrated once; most top-1 answers lost first, else lowest output SQNR).
// The promotions form one sequence: each layer, most sensitive first, to 8 bits (when K < 8), then
// each, most sensitive first, to float. An assignment is a prefix of that sequence; the search
// measures (a full quantize run, then the drop) the prefix of length 0, then 1, 2, 4, 8, ... until one
// is within P, then bisects between the last two for the shortest prefix within P. That bounds the
// cost to about 2 log2(2N) quantize runs for N layers, assuming the drop shrinks as layers are
// promoted (it need not strictly: every assignment chosen was measured within P). The longest prefix
// tried leaves the least sensitive layer quantized: no assignment of all-float layers is a result.
// When none is within P the lowest drop measured is the result (the command exits 3).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scalec::cli {

/// Weight bits per layer (node name): 2..8, or kFloatBits for a layer left in float.
using LayerBits = std::map<std::string, int>;
inline constexpr int kFloatBits = 0;

/// What the search chose and how it got there.
struct MixedPrecisionResult {
  LayerBits promoted;        ///< the layers not at K: 8 or kFloatBits (empty: all at K)
  std::vector<std::string> ranked;  ///< most sensitive first (empty when no promotion was needed)
  double drop = 0;           ///< measured for `promoted`, points
  bool reached = false;      ///< drop <= the target
  int evaluations = 0;       ///< quantize runs measured
  size_t promotions = 0;     ///< length of the chosen prefix
  nlohmann::json trace = nlohmann::json::array();  ///< [{promotions, drop}] in the order measured
};

/// Measures every layer at `bits` (`drop` of no promotion), and when that misses `target` ranks the
/// layers (`rank`: most sensitive first) and searches their promotions for the shortest prefix whose
/// drop is <= `target` (see the file comment). `drop` quantizes with the given layers promoted and
/// returns the measured drop in points.
MixedPrecisionResult search_mixed_precision(int bits, double target, const std::function<std::vector<std::string>()>& rank,
                                            const std::function<double(const LayerBits&)>& drop);

/// "int8", "int3", "float".
std::string layer_bits_name(int bits);

}  // namespace scalec::cli
