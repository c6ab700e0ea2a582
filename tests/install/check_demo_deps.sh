#!/bin/sh
# SPDX-License-Identifier: MIT
# demo.fresh_configure: `make demo` needs only a compiler, make and CMake.
# Configures the demo preset (the one `make demo` builds) into a temporary
# directory with a PATH that has no pkg-config and no ninja, as on a fresh
# Debian machine, and checks that it succeeds with the tests off (no cmocka
# looked for) and the Makefile generator.
#
# usage: check_demo_deps.sh <source-dir> <cmake>
set -eu

src=${1:?usage: check_demo_deps.sh <source-dir> <cmake>}
cmake_cmd=${2:?}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uhmm-demo-deps.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/bin"

# Every program on PATH but pkg-config and ninja.
IFS=:
for d in $PATH; do
    [ -d "$d" ] || continue
    for p in "$d"/*; do
        name=${p##*/}
        case $name in pkg-config | *-pkg-config | pkgconf | ninja) continue ;; esac
        [ -x "$p" ] && [ ! -e "$tmp/bin/$name" ] && ln -s "$p" "$tmp/bin/$name"
    done
done
unset IFS
if PATH="$tmp/bin" command -v pkg-config >/dev/null 2>&1; then
    echo "check_demo_deps: could not hide pkg-config" >&2
    exit 1
fi

grep -q 'cmake --preset demo' "$src/Makefile" || {
    echo "check_demo_deps: the Makefile's demo target does not configure the demo preset" >&2
    exit 1
}
# CMake's find_program also searches /usr/bin whatever PATH says: point
# PKG_CONFIG_EXECUTABLE at nothing, so that looking for pkg-config fails.
if ! (cd "$src" && PATH="$tmp/bin" "$cmake_cmd" --preset demo -S "$src" -B "$tmp/build" \
        -G "Unix Makefiles" -DPKG_CONFIG_EXECUTABLE="$tmp/no-pkg-config" >"$tmp/configure.log" 2>&1); then
    cat "$tmp/configure.log" >&2
    echo "check_demo_deps: the demo preset does not configure without pkg-config and ninja" >&2
    exit 1
fi
cache="$tmp/build/CMakeCache.txt"
for want in 'UHMM_BUILD_TESTS:BOOL=OFF' 'UHMM_BUILD_BENCH:BOOL=OFF' 'UHMM_BUILD_EXAMPLES:BOOL=OFF'; do
    grep -qx "$want" "$cache" || { echo "check_demo_deps: $cache lacks $want" >&2; exit 1; }
done
if [ -e "$tmp/build/tests" ] || grep -qi cmocka "$tmp/configure.log"; then
    echo "check_demo_deps: the demo configuration still involves the tests" >&2
    exit 1
fi
echo "check_demo_deps: the demo preset configures with no pkg-config, no ninja and no cmocka"
