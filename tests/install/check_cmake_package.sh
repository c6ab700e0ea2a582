#!/bin/sh
# SPDX-License-Identifier: MIT
# install.cmake_package: install the build tree into a temporary prefix, then
# configure and build a tiny consumer project that does nothing but
# find_package(uhmm CONFIG REQUIRED) and link uhmm::uhmm (shared) and
# uhmm::uhmm_static; run both programs and check which library each uses.
#
# usage: check_cmake_package.sh <build-dir> <cmake> <cc> [extra-cflags] [generator]
set -eu

build_dir=${1:?usage: check_cmake_package.sh <build-dir> <cmake> <cc> [extra-cflags] [generator]}
cmake_cmd=${2:?}
cc_cmd=${3:?}
extra_cflags=${4:-}
generator=${5:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uhmm-cmake-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix="$tmp/prefix"

"$cmake_cmd" --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log" >&2
    echo "check_cmake_package: cmake --install failed" >&2
    exit 1
}

mkdir "$tmp/src"
cat >"$tmp/src/CMakeLists.txt" <<'EOC'
cmake_minimum_required(VERSION 3.16)
project(uhmm_consumer LANGUAGES C)
find_package(uhmm 0.1 CONFIG REQUIRED)
message(STATUS "found uhmm ${uhmm_VERSION} in ${uhmm_DIR}")
add_executable(consumer_shared main.c)
target_link_libraries(consumer_shared PRIVATE uhmm::uhmm)
add_executable(consumer_static main.c)
target_link_libraries(consumer_static PRIVATE uhmm::uhmm_static)
EOC
cat >"$tmp/src/main.c" <<'EOC'
#include <stdio.h>
#include <uhmm/uhmm.h>

int main(void)
{
    struct uhmm_system *sys;
    struct uhmm_mm *mm;
    unsigned long addr;
    char buf[6] = "";

    if (uhmm_system_create(NULL, &sys) || uhmm_mm_create(sys, &mm) ||
        uhmm_mmap(mm, 0, UHMM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, &addr) ||
        uhmm_cpu_write(mm, addr, "hello", 6) || uhmm_cpu_read(mm, addr, buf, 6)) {
        fprintf(stderr, "consumer: a uhmm call failed\n");
        return 1;
    }
    uhmm_mm_put(mm);
    uhmm_system_destroy(sys);
    printf("consumer: uhmm %s read back \"%s\"\n", uhmm_version(), buf);
    return 0;
}
EOC

set -- -S "$tmp/src" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc_cmd" \
    -DCMAKE_C_FLAGS="$extra_cflags" -DCMAKE_EXE_LINKER_FLAGS="$extra_cflags"
[ -z "$generator" ] || set -- "$@" -G "$generator"
if ! "$cmake_cmd" "$@" >"$tmp/configure.log" 2>&1; then
    cat "$tmp/configure.log" >&2
    echo "check_cmake_package: find_package(uhmm CONFIG REQUIRED) failed" >&2
    exit 1
fi
grep 'found uhmm' "$tmp/configure.log"
if ! "$cmake_cmd" --build "$tmp/build" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    echo "check_cmake_package: building against uhmm::uhmm / uhmm::uhmm_static failed" >&2
    exit 1
fi

for p in consumer_shared consumer_static; do
    env -u LD_LIBRARY_PATH "$tmp/build/$p" || { echo "check_cmake_package: $p failed" >&2; exit 1; }
done
# uhmm::uhmm is libuhmm.so, found through the build RPATH; uhmm_static is not.
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$tmp/build/consumer_shared" | grep -q 'NEEDED.*libuhmm\.so\.0' || {
        echo "check_cmake_package: consumer_shared does not need libuhmm.so.0" >&2
        exit 1
    }
    if readelf -d "$tmp/build/consumer_static" | grep -q 'NEEDED.*libuhmm'; then
        echo "check_cmake_package: consumer_static needs libuhmm.so (uhmm::uhmm_static is not static)" >&2
        exit 1
    fi
fi
echo "check_cmake_package: find_package(uhmm) gives uhmm::uhmm and uhmm::uhmm_static"
