#!/bin/sh
# SPDX-License-Identifier: MIT
# install.tools: install the build tree into a temporary prefix and use the
# installed CLI the way a user would, from the install tree only (and check
# that the API man pages were installed): `uhmm bench
# --quick` finds the benchmark programs in <prefix>/libexec/uhmm and they
# start (their rpath finds the library), and `uhmm run` runs every example
# script installed under <prefix>/share/doc/uhmm/examples.
#
# usage: check_tools.sh <build-dir> <cmake> [bench-name...]
#   bench-name: run only these (sanitizer builds, where all of them are slow).
set -eu

build_dir=${1:?usage: check_tools.sh <build-dir> <cmake> [bench-name...]}
cmake_cmd=${2:?}
shift 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uhmm-tools.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix="$tmp/prefix"
"$cmake_cmd" --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log" >&2
    echo "check_tools: cmake --install failed" >&2
    exit 1
}

uhmm="$prefix/bin/uhmm"
benchdir="$prefix/libexec/uhmm"
exdir="$prefix/share/doc/uhmm/examples"
nbench=$(find "$benchdir" -maxdepth 1 -name 'bench_*' -type f 2>/dev/null | wc -l)
nex=$(find "$exdir" -maxdepth 1 -name '*.uhmm' -type f 2>/dev/null | wc -l)
if [ "$nbench" -eq 0 ] || [ "$nex" -eq 0 ]; then
    echo "check_tools: installed $nbench bench programs in $benchdir and $nex scripts in $exdir" >&2
    exit 1
fi
echo "installed: $nbench bench programs, $nex example scripts"
# The API man pages, when this build generated them (Python 3 present).
if [ -d "$build_dir/man/man3" ]; then
    built=$(find "$build_dir/man/man3" -name '*.3' | wc -l)
    inst=$(find "$prefix/share/man/man3" -name '*.3' 2>/dev/null | wc -l)
    if [ "$built" -eq 0 ] || [ "$inst" -ne "$built" ]; then
        echo "check_tools: $built man3 pages built, $inst installed" >&2
        exit 1
    fi
    echo "installed: $inst man3 pages"
fi

cd "$tmp"
if ! env -u UHMM_BENCH_DIR -u LD_LIBRARY_PATH "$uhmm" bench --quick "$@" >"$tmp/bench.out" 2>&1; then
    cat "$tmp/bench.out"
    echo "check_tools: the installed 'uhmm bench --quick $*' failed" >&2
    exit 1
fi
tail -n 1 "$tmp/bench.out"
if [ $# -eq 0 ]; then
    # Every installed program ran (plus the in-process trace benchmark).
    grep -q "^uhmm bench: $((nbench + 1)) benchmarks in " "$tmp/bench.out" || {
        cat "$tmp/bench.out"
        echo "check_tools: expected $((nbench + 1)) benchmarks to run" >&2
        exit 1
    }
fi

fail=0
for f in "$exdir"/*.uhmm; do
    if ! env -u LD_LIBRARY_PATH "$uhmm" run "$f" >"$tmp/run.out" 2>&1; then
        cat "$tmp/run.out"
        echo "check_tools: the installed 'uhmm run $f' failed" >&2
        fail=1
    fi
done
[ "$fail" = 0 ] || exit 1
echo "check_tools: installed uhmm bench and uhmm run of $nex installed examples work"
