#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fuzz/run.sh BUILD_DIR SECONDS - build fuzz_uhmm with clang in BUILD_DIR and
# run it for SECONDS on the committed seed corpus (fuzz/corpus, read only:
# new inputs go to BUILD_DIR/corpus). A crash leaves its input in
# BUILD_DIR/artifacts/ and a readable trace of the operations on stderr;
# replay it with BUILD_DIR/fuzz_uhmm <file> (or any preset's fuzz_uhmm_replay).
# Skips, with a message and status 0, when clang or libFuzzer is missing.
set -eu -o pipefail

build=${1:-build/fuzz}
seconds=${2:-60}
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
src=$(cd "$here/.." && pwd)

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: skipped: clang not found (apt-get install clang libclang-rt-14-dev)"
    exit 0
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    echo "fuzz: skipped: clang cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)"
    exit 0
fi

echo "==> configure $build (clang, -fsanitize=fuzzer,address,undefined)"
mkdir -p "$build"
if [ -f "$build/CMakeCache.txt" ] && ! grep -q 'CMAKE_C_COMPILER_ID:.*Clang\|CMAKE_C_COMPILER:FILEPATH=.*clang' "$build/CMakeCache.txt"; then
    rm -rf "$build"
    mkdir -p "$build"
fi
CC=clang cmake -S "$src" -B "$build" -G Ninja --log-level=WARNING \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DUHMM_DEBUG=ON \
    -DUHMM_BUILD_TESTS=OFF -DUHMM_BUILD_BENCH=OFF -DUHMM_BUILD_EXAMPLES=OFF -DUHMM_BUILD_TOOLS=OFF \
    >"$build/configure.log" || { cat "$build/configure.log"; exit 1; }
echo "==> build fuzz_uhmm"
cmake --build "$build" --target fuzz_uhmm -- --quiet
bin=$build/fuzz/fuzz_uhmm
[ -x "$bin" ] || { echo "fuzz: $bin was not built" >&2; exit 1; }

mkdir -p "$build/corpus" "$build/artifacts"
echo "==> fuzz for ${seconds}s (seed corpus $src/fuzz/corpus, new inputs in $build/corpus)"
# ASan's leak checker runs per input; UBSan stops at the first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Progress: libFuzzer's own status lines ("#N pulse cov: ... exec/s: ...") go
# to stderr as they come, at most one every PROGRESS_EVERY seconds (plus
# INITED and DONE); everything goes to the log.
PROGRESS_EVERY=5
progress() {
    local line last=-$PROGRESS_EVERY
    while IFS= read -r line; do
        case $line in
            '#'*INITED* | '#'*DONE*)
                echo "fuzz: ${SECONDS}s/${seconds}s: $line" >&2
                last=$SECONDS ;;
            '#'[0-9]*)
                if [ $((SECONDS - last)) -ge $PROGRESS_EVERY ]; then
                    echo "fuzz: ${SECONDS}s/${seconds}s: $line" >&2
                    last=$SECONDS
                fi ;;
        esac
    done
}
SECONDS=0
set +e
"$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=1537 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/" "$build/corpus" "$src/fuzz/corpus" 2>&1 |
    tee "$build/fuzz.log" | progress
status=${PIPESTATUS[0]}
set -e
tail -n 25 "$build/fuzz.log"
if [ $status -ne 0 ]; then
    echo "fuzz: FAILED (status $status); full log: $build/fuzz.log; inputs: $build/artifacts/" >&2
    grep -n "MISMATCH\|ERROR:\|runtime error" "$build/fuzz.log" | head -5 >&2 || true
    exit 1
fi
echo "fuzz: ${seconds}s, no crash"
