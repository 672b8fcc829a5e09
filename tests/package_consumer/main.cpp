// compress MODEL OUT PIPELINE [CALIB]: load, canonicalize, run the pipeline, save, with the
// installed scalec library.
#include <cstdio>

#include <scalec/scalec.h>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: compress MODEL OUT PIPELINE [CALIB]\n");
    return 1;
  }
  try {
    scalec::ir::Model model = scalec::load_model(argv[1]);
    std::printf("%s\n", scalec::canonicalize(model).c_str());
    scalec::PipelineOptions options;
    if (argc > 4) options.calib = argv[4];
    const scalec::PipelineResult result = scalec::run_pipeline(model, argv[3], options);
    for (const std::string& s : result.summaries) std::printf("%s\n", s.c_str());
    scalec::save_model(model, argv[2], result);
    std::printf("scalec %s wrote %s\n", scalec::version(), argv[2]);
  } catch (const scalec::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
