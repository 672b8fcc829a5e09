// Declarative checks of a node against its ONNX schema, run before any shape rule or kernel reads
// the node: input and output counts, and the kind, range or allowed values of the attributes whose
// misuse a kernel would otherwise read silently (Gemm transB=5 taken as "true", MaxPool ceil_mode=7).
// Attributes a rule does not list are left to the kernels' own readers (NodeAttrs::attr_*).
#include <algorithm>
#include <climits>
#include <string_view>

#include <fmt/ranges.h>

#include "ir/error.h"
#include "ir/printable.h"
#include "kernels/ops/op_schema.h"

namespace scalec::kernels {

namespace {

constexpr int kMany = INT_MAX;

// Input and output counts: the widest range any version of the op allows in opsets 1-22 (from the
// ONNX 1.17 schemas, ai.onnx domain); an omitted optional input ("") still takes its slot.
struct Arity {
  std::string_view op;
  int min_in, max_in, min_out, max_out;
};
constexpr Arity kArity[] = {
    {"Abs", 1, 1, 1, 1}, {"Acos", 1, 1, 1, 1}, {"Acosh", 1, 1, 1, 1}, {"Add", 2, 2, 1, 1}, {"AffineGrid", 2, 2, 1, 1},
    {"And", 2, 2, 1, 1}, {"ArgMax", 1, 1, 1, 1}, {"ArgMin", 1, 1, 1, 1}, {"Asin", 1, 1, 1, 1}, {"Asinh", 1, 1, 1, 1},
    {"Atan", 1, 1, 1, 1}, {"Atanh", 1, 1, 1, 1}, {"AveragePool", 1, 1, 1, 1}, {"BatchNormalization", 5, 5, 1, 5},
    {"Bernoulli", 1, 1, 1, 1}, {"BitShift", 2, 2, 1, 1}, {"BitwiseAnd", 2, 2, 1, 1}, {"BitwiseNot", 1, 1, 1, 1},
    {"BitwiseOr", 2, 2, 1, 1}, {"BitwiseXor", 2, 2, 1, 1}, {"BlackmanWindow", 1, 1, 1, 1}, {"Cast", 1, 1, 1, 1},
    {"CastLike", 2, 2, 1, 1}, {"Ceil", 1, 1, 1, 1}, {"Celu", 1, 1, 1, 1}, {"CenterCropPad", 2, 2, 1, 1},
    {"Clip", 1, 3, 1, 1}, {"Col2Im", 3, 3, 1, 1}, {"Compress", 2, 2, 1, 1}, {"Concat", 1, kMany, 1, 1},
    {"ConcatFromSequence", 1, 1, 1, 1}, {"Constant", 0, 0, 1, 1}, {"ConstantOfShape", 1, 1, 1, 1},
    {"Conv", 2, 3, 1, 1}, {"ConvInteger", 2, 4, 1, 1}, {"ConvTranspose", 2, 3, 1, 1}, {"Cos", 1, 1, 1, 1},
    {"Cosh", 1, 1, 1, 1}, {"CumSum", 2, 2, 1, 1}, {"DFT", 1, 3, 1, 1}, {"DeformConv", 3, 5, 1, 1},
    {"DepthToSpace", 1, 1, 1, 1}, {"DequantizeLinear", 2, 3, 1, 1}, {"Det", 1, 1, 1, 1}, {"Div", 2, 2, 1, 1},
    {"Dropout", 1, 3, 1, 2}, {"DynamicQuantizeLinear", 1, 1, 3, 3}, {"Einsum", 1, kMany, 1, 1}, {"Elu", 1, 1, 1, 1},
    {"Equal", 2, 2, 1, 1}, {"Erf", 1, 1, 1, 1}, {"Exp", 1, 1, 1, 1}, {"Expand", 2, 2, 1, 1}, {"EyeLike", 1, 1, 1, 1},
    {"Flatten", 1, 1, 1, 1}, {"Floor", 1, 1, 1, 1}, {"GRU", 3, 6, 0, 2}, {"Gather", 2, 2, 1, 1},
    {"GatherElements", 2, 2, 1, 1}, {"GatherND", 2, 2, 1, 1}, {"Gelu", 1, 1, 1, 1}, {"Gemm", 2, 3, 1, 1},
    {"GlobalAveragePool", 1, 1, 1, 1}, {"GlobalLpPool", 1, 1, 1, 1}, {"GlobalMaxPool", 1, 1, 1, 1},
    {"Greater", 2, 2, 1, 1}, {"GreaterOrEqual", 2, 2, 1, 1}, {"GridSample", 2, 2, 1, 1},
    {"GroupNormalization", 3, 3, 1, 1}, {"HammingWindow", 1, 1, 1, 1}, {"HannWindow", 1, 1, 1, 1},
    {"HardSigmoid", 1, 1, 1, 1}, {"HardSwish", 1, 1, 1, 1}, {"Hardmax", 1, 1, 1, 1}, {"Identity", 1, 1, 1, 1},
    {"If", 1, 1, 1, kMany}, {"ImageDecoder", 1, 1, 1, 1}, {"InstanceNormalization", 3, 3, 1, 1},
    {"IsInf", 1, 1, 1, 1}, {"IsNaN", 1, 1, 1, 1}, {"LRN", 1, 1, 1, 1}, {"LSTM", 3, 8, 0, 3},
    {"LayerNormalization", 2, 3, 1, 3}, {"LeakyRelu", 1, 1, 1, 1}, {"Less", 2, 2, 1, 1}, {"LessOrEqual", 2, 2, 1, 1},
    {"Log", 1, 1, 1, 1}, {"LogSoftmax", 1, 1, 1, 1}, {"Loop", 2, kMany, 1, kMany}, {"LpNormalization", 1, 1, 1, 1},
    {"LpPool", 1, 1, 1, 1}, {"MatMul", 2, 2, 1, 1}, {"MatMulInteger", 2, 4, 1, 1}, {"Max", 1, kMany, 1, 1},
    {"MaxPool", 1, 1, 1, 2}, {"MaxRoiPool", 2, 2, 1, 1}, {"MaxUnpool", 2, 3, 1, 1}, {"Mean", 1, kMany, 1, 1},
    {"MeanVarianceNormalization", 1, 1, 1, 1}, {"MelWeightMatrix", 5, 5, 1, 1}, {"Min", 1, kMany, 1, 1},
    {"Mish", 1, 1, 1, 1}, {"Mod", 2, 2, 1, 1}, {"Mul", 2, 2, 1, 1}, {"Multinomial", 1, 1, 1, 1}, {"Neg", 1, 1, 1, 1},
    {"NegativeLogLikelihoodLoss", 2, 3, 1, 1}, {"NonMaxSuppression", 2, 5, 1, 1}, {"NonZero", 1, 1, 1, 1},
    {"Not", 1, 1, 1, 1}, {"OneHot", 3, 3, 1, 1}, {"Optional", 0, 1, 1, 1}, {"OptionalGetElement", 1, 1, 1, 1},
    {"OptionalHasElement", 0, 1, 1, 1}, {"Or", 2, 2, 1, 1}, {"PRelu", 2, 2, 1, 1}, {"Pad", 1, 4, 1, 1},
    {"Pow", 2, 2, 1, 1}, {"QLinearConv", 8, 9, 1, 1}, {"QLinearMatMul", 8, 8, 1, 1}, {"QuantizeLinear", 2, 3, 1, 1},
    {"RNN", 3, 6, 0, 2}, {"RandomNormal", 0, 0, 1, 1}, {"RandomNormalLike", 1, 1, 1, 1},
    {"RandomUniform", 0, 0, 1, 1}, {"RandomUniformLike", 1, 1, 1, 1}, {"Range", 3, 3, 1, 1},
    {"Reciprocal", 1, 1, 1, 1}, {"ReduceL1", 1, 2, 1, 1}, {"ReduceL2", 1, 2, 1, 1}, {"ReduceLogSum", 1, 2, 1, 1},
    {"ReduceLogSumExp", 1, 2, 1, 1}, {"ReduceMax", 1, 2, 1, 1}, {"ReduceMean", 1, 2, 1, 1}, {"ReduceMin", 1, 2, 1, 1},
    {"ReduceProd", 1, 2, 1, 1}, {"ReduceSum", 1, 2, 1, 1}, {"ReduceSumSquare", 1, 2, 1, 1},
    {"RegexFullMatch", 1, 1, 1, 1}, {"Relu", 1, 1, 1, 1}, {"Reshape", 1, 2, 1, 1}, {"Resize", 1, 4, 1, 1},
    {"ReverseSequence", 2, 2, 1, 1}, {"RoiAlign", 3, 3, 1, 1}, {"Round", 1, 1, 1, 1}, {"STFT", 2, 4, 1, 1},
    {"Scan", 1, kMany, 1, kMany}, {"Scatter", 3, 3, 1, 1}, {"ScatterElements", 3, 3, 1, 1}, {"ScatterND", 3, 3, 1, 1},
    {"Selu", 1, 1, 1, 1}, {"SequenceAt", 2, 2, 1, 1}, {"SequenceConstruct", 1, kMany, 1, 1},
    {"SequenceEmpty", 0, 0, 1, 1}, {"SequenceErase", 1, 2, 1, 1}, {"SequenceInsert", 2, 3, 1, 1},
    {"SequenceLength", 1, 1, 1, 1}, {"SequenceMap", 1, kMany, 1, kMany}, {"Shape", 1, 1, 1, 1},
    {"Shrink", 1, 1, 1, 1}, {"Sigmoid", 1, 1, 1, 1}, {"Sign", 1, 1, 1, 1}, {"Sin", 1, 1, 1, 1}, {"Sinh", 1, 1, 1, 1},
    {"Size", 1, 1, 1, 1}, {"Slice", 1, 5, 1, 1}, {"Softmax", 1, 1, 1, 1}, {"SoftmaxCrossEntropyLoss", 2, 3, 1, 2},
    {"Softplus", 1, 1, 1, 1}, {"Softsign", 1, 1, 1, 1}, {"SpaceToDepth", 1, 1, 1, 1}, {"Split", 1, 2, 1, kMany},
    {"SplitToSequence", 1, 2, 1, 1}, {"Sqrt", 1, 1, 1, 1}, {"Squeeze", 1, 2, 1, 1}, {"StringConcat", 2, 2, 1, 1},
    {"StringNormalizer", 1, 1, 1, 1}, {"StringSplit", 1, 1, 2, 2}, {"Sub", 2, 2, 1, 1}, {"Sum", 1, kMany, 1, 1},
    {"Tan", 1, 1, 1, 1}, {"Tanh", 1, 1, 1, 1}, {"TfIdfVectorizer", 1, 1, 1, 1}, {"ThresholdedRelu", 1, 1, 1, 1},
    {"Tile", 2, 3, 1, 1}, {"TopK", 1, 2, 2, 2}, {"Transpose", 1, 1, 1, 1}, {"Trilu", 1, 2, 1, 1},
    {"Unique", 1, 1, 1, 4}, {"Unsqueeze", 1, 2, 1, 1}, {"Upsample", 1, 2, 1, 1}, {"Where", 3, 3, 1, 1},
    {"Xor", 2, 2, 1, 1},
};

// What an attribute may hold. kInt/kInts: each integer in [lo, hi]; kFloat also takes an int (some
// exporters write alpha=1); kString: one of `choices` ('|'-separated); kPerm: a permutation of 0..n-1.
enum class Want { kInt, kInts, kFloat, kString, kPerm };

struct AttrRule {
  std::string_view ops;   // '|'-separated op types
  std::string_view attr;
  Want want;
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  std::string_view choices = {};
};

constexpr std::string_view kConvLike = "Conv|ConvTranspose|ConvInteger|QLinearConv";
constexpr std::string_view kPools = "MaxPool|AveragePool|LpPool|MaxUnpool";
constexpr std::string_view kWindowed = "Conv|ConvTranspose|ConvInteger|QLinearConv|MaxPool|AveragePool|LpPool|MaxUnpool";
constexpr std::string_view kReduces =
    "ReduceMax|ReduceMin|ReduceMean|ReduceSum|ReduceProd|ReduceL1|ReduceL2|ReduceLogSum|ReduceLogSumExp|ReduceSumSquare";
constexpr std::string_view kAutoPad = "NOTSET|SAME_UPPER|SAME_LOWER|VALID";
constexpr int64_t kBig = INT64_MAX;

const AttrRule kAttrRules[] = {
    {"Gemm", "transA", Want::kInt, 0, 1},
    {"Gemm", "transB", Want::kInt, 0, 1},
    {"Gemm", "broadcast", Want::kInt, 0, 1},
    {"Gemm", "alpha", Want::kFloat},
    {"Gemm", "beta", Want::kFloat},
    {kWindowed, "kernel_shape", Want::kInts, 1, kBig},
    {kWindowed, "strides", Want::kInts, 1, kBig},
    {kWindowed, "pads", Want::kInts, 0, kBig},
    {kWindowed, "dilations", Want::kInts, 1, kBig},
    {kWindowed, "auto_pad", Want::kString, 0, 0, kAutoPad},
    {kConvLike, "group", Want::kInt, 1, kBig},
    {"ConvTranspose", "output_padding", Want::kInts, 0, kBig},
    {"ConvTranspose", "output_shape", Want::kInts, 0, kBig},
    {kPools, "ceil_mode", Want::kInt, 0, 1},
    {"MaxPool", "storage_order", Want::kInt, 0, 1},
    {"AveragePool", "count_include_pad", Want::kInt, 0, 1},
    {"LpNormalization", "p", Want::kInt, 1, 2},
    {"Transpose", "perm", Want::kPerm},
    {"Pad", "mode", Want::kString, 0, 0, "constant|reflect|edge|wrap"},
    {"Resize|Upsample", "mode", Want::kString, 0, 0, "nearest|linear|cubic|bilinear"},
    {"Resize", "coordinate_transformation_mode", Want::kString, 0, 0,
     "half_pixel|half_pixel_symmetric|pytorch_half_pixel|align_corners|asymmetric|tf_half_pixel_for_nn|tf_crop_and_resize"},
    {"Resize", "nearest_mode", Want::kString, 0, 0, "round_prefer_floor|round_prefer_ceil|floor|ceil"},
    {"Resize", "keep_aspect_ratio_policy", Want::kString, 0, 0, "stretch|not_larger|not_smaller"},
    {"Resize", "exclude_outside", Want::kInt, 0, 1},
    {"Resize", "antialias", Want::kInt, 0, 1},
    {"DepthToSpace|SpaceToDepth", "blocksize", Want::kInt, 1, kBig},
    {"DepthToSpace", "mode", Want::kString, 0, 0, "DCR|CRD"},
    {"TopK", "largest", Want::kInt, 0, 1},
    {"TopK", "sorted", Want::kInt, 0, 1},
    {"ArgMax|ArgMin", "keepdims", Want::kInt, 0, 1},
    {"ArgMax|ArgMin", "select_last_index", Want::kInt, 0, 1},
    {kReduces, "keepdims", Want::kInt, 0, 1},
    {kReduces, "noop_with_empty_axes", Want::kInt, 0, 1},
    {"CumSum", "exclusive", Want::kInt, 0, 1},
    {"CumSum", "reverse", Want::kInt, 0, 1},
    {"Trilu", "upper", Want::kInt, 0, 1},
    {"Mod", "fmod", Want::kInt, 0, 1},
    {"IsInf", "detect_negative", Want::kInt, 0, 1},
    {"IsInf", "detect_positive", Want::kInt, 0, 1},
    {"BatchNormalization", "training_mode", Want::kInt, 0, 1},
    {"BatchNormalization|InstanceNormalization|LayerNormalization|GroupNormalization", "epsilon", Want::kFloat},
    {"GroupNormalization", "num_groups", Want::kInt, 1, kBig},
    {"Gelu", "approximate", Want::kString, 0, 0, "none|tanh"},
    {"ScatterElements|ScatterND", "reduction", Want::kString, 0, 0, "none|add|mul|max|min"},
    {"GatherND", "batch_dims", Want::kInt, 0, kBig},
    {"Split", "num_outputs", Want::kInt, 1, kBig},
    {"QuantizeLinear", "saturate", Want::kInt, 0, 1},
    {"QuantizeLinear|DequantizeLinear", "block_size", Want::kInt, 0, kBig},
    {"LeakyRelu|Elu|Celu|ThresholdedRelu|HardSigmoid|Selu", "alpha", Want::kFloat},
    {"HardSigmoid", "beta", Want::kFloat},
    {"Selu", "gamma", Want::kFloat},
    {"Flatten|Softmax|LogSoftmax|Hardmax|Concat|Gather|GatherElements|OneHot|Compress|CumSum", "axis", Want::kInt},
    {"Squeeze|Unsqueeze|MeanVarianceNormalization", "axes", Want::kInts},
    {"LSTM|GRU|RNN", "direction", Want::kString, 0, 0, "forward|reverse|bidirectional"},
    {"LSTM|GRU|RNN", "hidden_size", Want::kInt, 1, kBig},
    {"LSTM|GRU|RNN", "layout", Want::kInt, 0, 1},
    {"LSTM|GRU|RNN", "clip", Want::kFloat},
    {"LSTM", "input_forget", Want::kInt, 0, 1},
    {"GRU", "linear_before_reset", Want::kInt, 0, 1},
};

bool lists(std::string_view ops, std::string_view op) {
  while (!ops.empty()) {
    const size_t bar = ops.find('|');
    if (ops.substr(0, bar) == op) return true;
    if (bar == std::string_view::npos) break;
    ops.remove_prefix(bar + 1);
  }
  return false;
}

std::string count_range(int lo, int hi) {
  if (lo == hi) return fmt::format("{}", lo);
  if (hi == kMany) return fmt::format("{} or more", lo);
  return fmt::format("{} to {}", lo, hi);
}

std::string bounds(const AttrRule& r) {
  if (r.lo == 0 && r.hi == 1) return "0 or 1";
  if (r.hi == INT64_MAX) return fmt::format(">= {}", r.lo);
  return fmt::format("in [{}, {}]", r.lo, r.hi);
}

void check_attr(const NodeAttrs& ctx, const ir::Attribute& a, const AttrRule& r) {
  using K = ir::Attribute::Kind;
  auto wrong_kind = [&](const char* what) {
    throw_bad_input("{} attribute '{}' must be {}", ctx.where(), a.name, what);
  };
  switch (r.want) {
    case Want::kInt:
      if (a.kind != K::kInt) wrong_kind("an int");
      if (a.i < r.lo || a.i > r.hi) {
        throw_bad_input("{} attribute '{}' is {}; it must be {}", ctx.where(), a.name, a.i, bounds(r));
      }
      return;
    case Want::kInts:
      if (a.kind != K::kInts) wrong_kind("a list of ints");
      for (int64_t v : a.ints) {
        if (v < r.lo || v > r.hi) {
          throw_bad_input("{} attribute '{}' is [{}]; each value must be {}", ctx.where(), a.name,
                          fmt::join(a.ints, ", "), bounds(r));
        }
      }
      return;
    case Want::kFloat:
      if (a.kind != K::kFloat && a.kind != K::kInt) wrong_kind("a float");
      return;
    case Want::kString: {
      if (a.kind != K::kString) wrong_kind("a string");
      std::string choices(r.choices);
      std::replace(choices.begin(), choices.end(), '|', ',');
      if (!lists(r.choices, a.s)) {
        throw_bad_input("{} attribute '{}' is '{}'; it must be one of {}", ctx.where(), a.name, ir::printable(a.s),
                        choices);
      }
      return;
    }
    case Want::kPerm: {
      if (a.kind != K::kInts) wrong_kind("a list of ints");
      std::vector<char> seen(a.ints.size(), 0);
      for (int64_t v : a.ints) {
        if (v < 0 || v >= static_cast<int64_t>(a.ints.size()) || seen[static_cast<size_t>(v)]++) {
          throw_bad_input("{} attribute '{}' is [{}], not a permutation of 0..{}", ctx.where(), a.name,
                          fmt::join(a.ints, ", "), static_cast<int64_t>(a.ints.size()) - 1);
        }
      }
      return;
    }
  }
}

}  // namespace

void check_node_schema(const NodeAttrs& ctx) {
  const ir::Node& n = ctx.node();
  if (!n.domain().empty() && n.domain() != "ai.onnx") return;
  const std::string& op = n.op_type();
  auto it = std::find_if(std::begin(kArity), std::end(kArity), [&](const Arity& a) { return a.op == op; });
  if (it != std::end(kArity)) {
    const auto ins = static_cast<int64_t>(n.inputs().size()), outs = static_cast<int64_t>(n.outputs().size());
    if (ins < it->min_in || ins > it->max_in) {
      throw_bad_input("{} has {} input{}; {} takes {}", ctx.where(), ins, ins == 1 ? "" : "s", op,
                      count_range(it->min_in, it->max_in));
    }
    if (outs < it->min_out || outs > it->max_out) {
      throw_bad_input("{} has {} output{}; {} gives {}", ctx.where(), outs, outs == 1 ? "" : "s", op,
                      count_range(it->min_out, it->max_out));
    }
  }
  for (const AttrRule& r : kAttrRules) {
    if (!lists(r.ops, op)) continue;
    if (const ir::Attribute* a = n.attribute(std::string(r.attr))) check_attr(ctx, *a, r);
  }
}

}  // namespace scalec::kernels
