#!/bin/sh
# install.pkgconfig: install the build tree into a temporary prefix, then
# build and run a tiny client using nothing but `pkg-config --cflags --libs uhmm`.
#
# usage: check_pkgconfig.sh <build-dir> [cmake] [cc] [extra-cflags]
#   extra-cflags: e.g. the sanitizer flags the library was built with (an
#   instrumented libuhmm.so needs an instrumented client).
set -eu

build_dir=${1:?usage: check_pkgconfig.sh <build-dir> [cmake] [cc] [extra-cflags]}
cmake_cmd=${2:-cmake}
cc_cmd=${3:-${CC:-cc}}
extra_cflags=${4:-}

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "pkg-config not installed: skipping" >&2
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uhmm-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

prefix="$tmp/prefix"
"$cmake_cmd" --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log" >&2
    echo "check_pkgconfig: cmake --install failed" >&2
    exit 1
}

pcdir=$(dirname "$(find "$prefix" -name uhmm.pc -path '*/pkgconfig/*' | head -n 1)")
if [ ! -f "$pcdir/uhmm.pc" ]; then
    echo "check_pkgconfig: uhmm.pc was not installed under $prefix" >&2
    find "$prefix" >&2
    exit 1
fi
libdir=$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=libdir uhmm)

cat >"$tmp/client.c" <<'EOC'
#include <stdio.h>
#include <uhmm/uhmm.h>

int main(void)
{
    /* Type-agnostic on purpose: only the documented calls are used. */
    void *s = NULL;
    if (uhmm_system_create(NULL, (void *)&s) != 0 || s == NULL) {
        fprintf(stderr, "uhmm_system_create failed\n");
        return 1;
    }
    uhmm_system_destroy(s);
    puts("uhmm client ok");
    return 0;
}
EOC

flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs uhmm)
echo "+ $cc_cmd $extra_cflags client.c $flags"
# shellcheck disable=SC2086  # word splitting of the flag strings is intended
"$cc_cmd" $extra_cflags -o "$tmp/client" "$tmp/client.c" $flags

LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/client"
