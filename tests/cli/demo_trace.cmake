# SPDX-License-Identifier: MIT
# demo_trace.cmake - `uhmm demo --trace` writes a Chrome trace that parses and
# holds every kind of event (cmake -P).
#   -DPROG=<uhmm> -DPYTHON=<python3> -DCHECK=<check_trace.py> -DOUT=<file>
file(REMOVE "${OUT}")
execute_process(COMMAND "${PROG}" demo --pages 256 --rounds 1 --trace "${OUT}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "uhmm demo --trace: exit ${rc}\n${out}\n${err}")
endif()
execute_process(COMMAND "${PYTHON}" "${CHECK}" "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CHECK} ${OUT}: exit ${rc}")
endif()
