# scalec in a container: Debian bookworm, built and installed from its own .deb.
# Untested here (the machines this project is built on have no container engine); the steps are the
# ones scripts/test runs, so they are exercised in CI without Docker.
#   docker build -t scalec . && docker run --rm -v "$PWD:/data" scalec quantize /data/model.onnx
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN apt-get update && scripts/install-deps && scripts/build build -DSCALEC_BUILD_TESTS=OFF -DSCALEC_BUILD_BENCH=OFF \
    && cd build && cpack -G DEB -B /pkg

FROM debian:bookworm
COPY --from=build /pkg/scalec_*_amd64.deb /tmp/
RUN apt-get update && apt-get install -y --no-install-recommends /tmp/scalec_*_amd64.deb && rm -rf /var/lib/apt/lists/* /tmp/*.deb
ENTRYPOINT ["scalec"]
