# Installation and the Debian package: `cmake --install build` puts the scalec binary in bin/;
# `cpack -G DEB` (run in the build folder) makes scalec_<version>_amd64.deb whose Depends come from
# dpkg-shlibdeps, so every shared library the binary needs is named (tests/py/test_package.py checks
# it with ldd on the unpacked binary).
install(TARGETS scalec RUNTIME DESTINATION bin COMPONENT runtime)
install(FILES README.md DESTINATION share/doc/scalec COMPONENT runtime)
install(FILES docs/report.schema.json docs/pipelines.md DESTINATION share/doc/scalec COMPONENT runtime)

# The C++ library (component "development"): static libraries, headers and a CMake package, so
# find_package(scalec) gives scalec::scalec (api/scalec.h: load, canonicalize, run a pipeline, save).
include(CMakePackageConfigHelpers)
install(TARGETS scalec_api scalec_distill scalec_passes scalec_calibration scalec_kernels scalec_onnx_io scalec_ir scalec_options
        EXPORT scalecTargets ARCHIVE DESTINATION lib COMPONENT development)
install(EXPORT scalecTargets NAMESPACE scalec:: DESTINATION lib/cmake/scalec COMPONENT development)
install(DIRECTORY ir onnx_io kernels calibration passes distill DESTINATION include/scalec COMPONENT development
        FILES_MATCHING PATTERN "*.h"
        PATTERN "cuda" EXCLUDE PATTERN "tensor_proto.h" EXCLUDE PATTERN "npy_format.h" EXCLUDE)  # no CUDA, protobuf
install(FILES api/scalec.h DESTINATION include/scalec COMPONENT development)
configure_package_config_file(cmake/scalecConfig.cmake.in "${CMAKE_CURRENT_BINARY_DIR}/scalecConfig.cmake"
                              INSTALL_DESTINATION lib/cmake/scalec)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/scalecConfigVersion.cmake" COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/scalecConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/scalecConfigVersion.cmake"
        DESTINATION lib/cmake/scalec COMPONENT development)

set(CPACK_GENERATOR "DEB")
# The .deb carries the command (component runtime); the library is for `cmake --install`.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};scalec;runtime;/")
set(CPACK_PACKAGE_NAME "scalec")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "scalec maintainers <scalec@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Model compression for ONNX: pruning, quantization, distillation on the graph")
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "openmpi-bin")  # mpirun, to train on several ranks (libmpi itself comes from shlibdeps)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
include(CPack)
