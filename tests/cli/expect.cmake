# SPDX-License-Identifier: MIT
# expect.cmake - run one uhmm command and check how it ends (cmake -P).
#
#   -DPROG=<uhmm>  -DARGS=<arguments, separated by |>  -DSTATUS=<exit status>
#   -DREGEX=<regular expression the combined stdout+stderr must match, or empty>
#   -DONE_LINE=1   stderr must be exactly one line (usage errors)
string(REPLACE "|" ";" _args "${ARGS}")
execute_process(COMMAND "${PROG}" ${_args}
    RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
set(_all "${_out}${_err}")
string(REPLACE ";" " " _shown "${_args}")
if(NOT "${_rc}" STREQUAL "${STATUS}")
    message(FATAL_ERROR "uhmm ${_shown}: exit status '${_rc}', expected ${STATUS}\n"
        "stdout:\n${_out}\nstderr:\n${_err}")
endif()
if(REGEX AND NOT _all MATCHES "${REGEX}")
    message(FATAL_ERROR "uhmm ${_shown}: output does not match '${REGEX}'\n"
        "stdout:\n${_out}\nstderr:\n${_err}")
endif()
if(ONE_LINE AND NOT _err MATCHES "^[^\n]+\n$")
    message(FATAL_ERROR "uhmm ${_shown}: expected a one-line message on stderr, got:\n${_err}")
endif()
message(STATUS "uhmm ${_shown}: exit ${_rc} as expected")
