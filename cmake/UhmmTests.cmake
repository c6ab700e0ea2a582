# SPDX-License-Identifier: MIT
# Test program helpers.
#
# uhmm_add_test_program(<source>
#     LABEL <unit|api|conformance|...>
#     LINK <libs...>
#     [OUTPUT_DIR <dir>] [EXTRA_SOURCES <files...>])
#
#   Builds one cmocka program from <source>; the program (and CMake target)
#   is named after the file (tests/unit/test_rbtree.c -> test_rbtree).
#   Then, like gtest_discover_tests(), registers one ctest test per case:
#
#     * a POST_BUILD step runs `<program> --list` (one case name per line)
#       through cmake/UhmmDiscoverTests.cmake, which writes
#       <program>_tests.cmake containing
#           add_test(<program>.<case> <program> <case>)
#           set_tests_properties(... TIMEOUT 120 SKIP_RETURN_CODE 77 ...)
#     * a small <program>_include.cmake, written at configure time and listed
#       in the directory property TEST_INCLUDE_FILES, includes that file when
#       ctest runs (or registers a failing <program>_NOT_BUILT test if the
#       program has not been built yet).
#
#   So nothing needs the binary at configure time, and adding/removing cases
#   only needs a rebuild, not a reconfigure.
include_guard(GLOBAL)

set(_UHMM_DISCOVER_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/UhmmDiscoverTests.cmake")

# Remembers program names to reject two tests/<dir>/test_x.c with one name.
set_property(GLOBAL PROPERTY UHMM_TEST_PROGRAMS "")

function(uhmm_add_test_program source)
    cmake_parse_arguments(ARG "" "LABEL;OUTPUT_DIR" "LINK;EXTRA_SOURCES" ${ARGN})
    get_filename_component(name "${source}" NAME_WE)

    get_property(known GLOBAL PROPERTY UHMM_TEST_PROGRAMS)
    if(name IN_LIST known)
        message(FATAL_ERROR
            "uhmm: two test sources are named ${name}.c; test program names "
            "must be unique across tests/*/ (offending: ${source})")
    endif()
    set_property(GLOBAL APPEND PROPERTY UHMM_TEST_PROGRAMS "${name}")

    if(NOT ARG_OUTPUT_DIR)
        set(ARG_OUTPUT_DIR "${CMAKE_CURRENT_BINARY_DIR}")
    endif()

    add_executable(${name} "${source}" ${ARG_EXTRA_SOURCES})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIR}")
    target_link_libraries(${name} PRIVATE ${ARG_LINK})

    uhmm_discover_tests(${name} LABEL "${ARG_LABEL}" WORKING_DIRECTORY "${ARG_OUTPUT_DIR}")
endfunction()

# uhmm_discover_tests(<target> [LABEL <label>] [WORKING_DIRECTORY <dir>]
#                     [TIMEOUT <seconds>])
function(uhmm_discover_tests target)
    cmake_parse_arguments(ARG "" "LABEL;WORKING_DIRECTORY;TIMEOUT" "" ${ARGN})
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT "${UHMM_TEST_TIMEOUT}")
    endif()
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT 120)
    endif()
    if(NOT ARG_WORKING_DIRECTORY)
        set(ARG_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
    endif()

    set(ctest_tests   "${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake")
    set(ctest_include "${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake")

    add_custom_command(TARGET ${target} POST_BUILD
        BYPRODUCTS "${ctest_tests}"
        COMMAND "${CMAKE_COMMAND}"
            -D "TEST_PROGRAM=${target}"
            -D "TEST_EXECUTABLE=$<TARGET_FILE:${target}>"
            -D "TEST_WORKING_DIR=${ARG_WORKING_DIRECTORY}"
            -D "TEST_LABEL=${ARG_LABEL}"
            -D "TEST_TIMEOUT=${ARG_TIMEOUT}"
            -D "CTEST_FILE=${ctest_tests}"
            -P "${_UHMM_DISCOVER_SCRIPT}"
        COMMENT "Listing test cases of ${target}"
        VERBATIM)

    file(WRITE "${ctest_include}"
"if(EXISTS [==[${ctest_tests}]==])
  include([==[${ctest_tests}]==])
else()
  add_test([==[${target}_NOT_BUILT]==] [==[${target}_NOT_BUILT]==])
endif()
")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${ctest_include}")
endfunction()
