# Installation and the Debian package: `cmake --install build` puts the scalec binary in bin/;
# `cpack -G DEB` (run in the build folder) makes scalec_<version>_amd64.deb whose Depends come from
# dpkg-shlibdeps, so every shared library the binary needs is named (tests/py/test_package.py checks
# it with ldd on the unpacked binary).
install(TARGETS scalec RUNTIME DESTINATION bin)
install(FILES README.md DESTINATION share/doc/scalec)
install(FILES docs/report.schema.json docs/pipelines.md DESTINATION share/doc/scalec)

set(CPACK_GENERATOR "DEB")
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
