# demo_json.cmake - `uhmm demo --json` prints valid JSON with the seed's effect (cmake -P).
#   -DPROG=<uhmm> -DPYTHON=<python3> -DCHECK=<check_demo_json.py> -DOUT=<file>
execute_process(COMMAND "${PROG}" demo --pages 512 --fraction 0.5 --rounds 1 --json
    RESULT_VARIABLE rc OUTPUT_FILE "${OUT}" ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "uhmm demo --json: exit ${rc}\n${err}")
endif()
execute_process(COMMAND "${PYTHON}" "${CHECK}" "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CHECK} ${OUT}: exit ${rc}")
endif()
