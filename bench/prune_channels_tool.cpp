// scalec_prune_channels: channel pruning (passes::prune_channels) as a small command, for
// bench/prune_speed.py until `scalec prune --method channel` lands.
//   scalec_prune_channels IN.onnx OUT.onnx RATIO [ROUND_TO]
// Prints the pass summary on stdout and one line per producer layer on stderr.
#include <cstdio>
#include <exception>
#include <string>

#include "ir/error.h"
#include "onnx_io/model_io.h"
#include "passes/prune/channel_prune.h"

int main(int argc, char** argv) {
  using namespace scalec;
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: scalec_prune_channels IN.onnx OUT.onnx RATIO [ROUND_TO]\n");
    return 1;
  }
  try {
    passes::ChannelPruneOptions o;
    o.ratio = std::stod(argv[3]);
    if (argc == 5) o.round_to = std::stoll(argv[4]);
    ir::Model m = onnx_io::load_model(argv[1]);
    const passes::ChannelPruneReport rep = passes::prune_channels(m, o);
    onnx_io::SaveOptions so;
    so.passes = {"prune-channels"};
    onnx_io::save_model(m, argv[2], so);
    for (const auto& l : rep.layers) {
      std::fprintf(stderr, "  group %3d  %-40s %5lld -> %5lld  %s\n", l.group, l.name.c_str(),
                   static_cast<long long>(l.channels_before), static_cast<long long>(l.channels_after), l.reason.c_str());
    }
    std::printf("%s\n", rep.summary().c_str());
    std::printf("params %lld %lld\nmacs %lld %lld\n", static_cast<long long>(rep.params_before),
                static_cast<long long>(rep.params_after), static_cast<long long>(rep.macs_before.value_or(-1)),
                static_cast<long long>(rep.macs_after.value_or(-1)));
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
