# Warnings and target CPU for every scalec target (applied through scalec_options).
add_library(scalec_options INTERFACE)
target_compile_options(scalec_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
                            -march=${SCALEC_MARCH}>)
if(SCALEC_WERROR)
  target_compile_options(scalec_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
if(SCALEC_SANITIZE)
  target_compile_options(scalec_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1>)
  target_link_options(scalec_options INTERFACE -fsanitize=address,undefined)
endif()
target_compile_definitions(scalec_options INTERFACE SCALEC_VERSION="${PROJECT_VERSION}"
                           SCALEC_MARCH="${SCALEC_MARCH}")
