#!/bin/sh
# SPDX-License-Identifier: MIT
# install.pkgconfig: install the build tree into a temporary prefix, check the
# shared library's file names and exported symbols, then build and run a tiny
# client using nothing but `pkg-config --cflags --libs uhmm` (no
# LD_LIBRARY_PATH: the .pc file's rpath must find the library).
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
version=$(PKG_CONFIG_PATH="$pcdir" pkg-config --modversion uhmm)
major=${version%%.*}

# libuhmm.so -> libuhmm.so.MAJOR -> libuhmm.so.MAJOR.MINOR.PATCH (a file).
fail=0
if [ ! -f "$libdir/libuhmm.so.$version" ] || [ -L "$libdir/libuhmm.so.$version" ]; then
    echo "check_pkgconfig: $libdir/libuhmm.so.$version is not a file" >&2
    fail=1
fi
for link in "libuhmm.so:libuhmm.so.$major" "libuhmm.so.$major:libuhmm.so.$version"; do
    name=${link%%:*}
    target=$(readlink "$libdir/$name" || true)
    if [ "$target" != "${link#*:}" ]; then
        echo "check_pkgconfig: $name -> '$target', expected ${link#*:}" >&2
        fail=1
    fi
done
# Only uhmm_* is exported, under the version node of src/libuhmm.map.
if command -v nm >/dev/null 2>&1; then
    nm -D --defined-only "$libdir/libuhmm.so.$version" | awk '{ sub(/@.*/, "", $NF); print $NF }' >"$tmp/syms"
    if grep -v -e '^uhmm_' -e '^UHMM_[0-9.]*$' "$tmp/syms" >"$tmp/bad"; then
        echo "check_pkgconfig: libuhmm.so exports symbols outside uhmm_*:" >&2
        cat "$tmp/bad" >&2
        fail=1
    fi
    if ! grep -qx uhmm_version "$tmp/syms"; then
        echo "check_pkgconfig: libuhmm.so does not export uhmm_version" >&2
        fail=1
    fi
fi
[ "$fail" = 0 ] || exit 1

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
    printf("uhmm client ok: headers %s, library %s\n", UHMM_VERSION_STRING, uhmm_version());
    return 0;
}
EOC

flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs uhmm)
echo "+ $cc_cmd $extra_cflags client.c $flags"
# shellcheck disable=SC2086  # word splitting of the flag strings is intended
"$cc_cmd" $extra_cflags -o "$tmp/client" "$tmp/client.c" $flags

env -u LD_LIBRARY_PATH "$tmp/client" >"$tmp/client.out"
cat "$tmp/client.out"
grep -qx "uhmm client ok: headers $version, library $version" "$tmp/client.out" || {
    echo "check_pkgconfig: expected headers and library version $version" >&2
    exit 1
}
