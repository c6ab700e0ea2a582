#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# usage: check-compiler.sh <build-dir> [<CC>]
# When a compiler was asked for (CC) and <build-dir> was configured with a
# different one, remove <build-dir> so that CMake picks the new compiler up
# (CMake only reads CC on the first configure of a build directory).
set -euo pipefail

dir=$1
want=${2:-}
[ -n "$want" ] || exit 0
cache="$dir/CMakeCache.txt"
[ -f "$cache" ] || exit 0

have=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache" | head -n 1)
want_path=$(command -v "${want%% *}" 2>/dev/null || true)
if [ -z "$want_path" ]; then
    echo "CC=$want: compiler not found" >&2
    exit 1
fi
if [ "$(readlink -f "$want_path")" != "$(readlink -f "${have:-/nonexistent}")" ]; then
    echo "==> $dir was configured with ${have:-?}, CC=$want: reconfiguring from scratch"
    rm -rf "$dir"
fi
