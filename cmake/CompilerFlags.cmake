# Warnings and target CPU for every scalec target (applied through scalec_options).
add_library(scalec_options INTERFACE)
target_compile_options(scalec_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
                            -march=${SCALEC_MARCH}>)
if(SCALEC_WERROR)
  target_compile_options(scalec_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
if(SCALEC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SCALEC_FUZZ needs clang (libFuzzer): configure with CXX=clang++ CC=clang")
  endif()
  set(SCALEC_SANITIZE ON)
  # Coverage feedback for libFuzzer in every library; only the fuzz targets link its main().
  target_compile_options(scalec_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
if(SCALEC_SANITIZE)
  target_compile_options(scalec_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1
                              -gline-tables-only>)  # reports keep file:line; compiles ~20% faster than -g (CI)
  target_link_options(scalec_options INTERFACE -fsanitize=address,undefined)
endif()
target_compile_definitions(scalec_options INTERFACE SCALEC_VERSION="${PROJECT_VERSION}"
                           SCALEC_MARCH="${SCALEC_MARCH}")
