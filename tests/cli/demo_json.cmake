# SPDX-License-Identifier: MIT
# demo_json.cmake - `uhmm demo --json` at f = 0, 0.5 and 1: valid JSON, the seed's effect,
# like-for-like columns and sentences that follow the numbers (cmake -P).
#   -DPROG=<uhmm> -DPYTHON=<python3> -DCHECK=<check_demo_json.py> -DOUT=<file prefix>
foreach(f 0 0.5 1)
    execute_process(COMMAND "${PROG}" demo --pages 512 --fraction ${f} --rounds 3 --json
        RESULT_VARIABLE rc OUTPUT_FILE "${OUT}.${f}.json" ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "uhmm demo --fraction ${f} --json: exit ${rc}\n${err}")
    endif()
endforeach()
execute_process(COMMAND "${PYTHON}" "${CHECK}" "${OUT}.0.json" "${OUT}.0.5.json" "${OUT}.1.json"
    RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CHECK} ${OUT}.*.json: exit ${rc}")
endif()
