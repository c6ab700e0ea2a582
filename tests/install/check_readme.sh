#!/bin/sh
# SPDX-License-Identifier: MIT
# install.readme: run README.md's "Using the library" recipe exactly as
# written - the first ```sh block after "## Using the library", with the first
# ```c block after "### A tour" saved as tour.c - in an empty directory with
# HOME set to it, and check that the tour runs and says it finished.
#
# usage: check_readme.sh <source-dir> <build-dir> [cmake] [cc] [extra-cflags]
#
# Two commands of the recipe are stand-ins, so that the test installs the
# build under test instead of building the release preset again: `make`
# accepts only `install PREFIX=DIR` and runs `cmake --install <build-dir>
# --prefix DIR` (what the Makefile's install rule does once its build step
# is done); `cc` is <cc> plus <extra-cflags> (an instrumented libuhmm.so
# needs an instrumented program). Everything else is the README's.
set -eu

src_dir=${1:?usage: check_readme.sh <source-dir> <build-dir> [cmake] [cc] [extra-cflags]}
build_dir=${2:?}
cmake_cmd=${3:-cmake}
cc_cmd=${4:-${CC:-cc}}
extra_cflags=${5:-}

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "pkg-config not installed: skipping" >&2
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uhmm-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/shim" "$tmp/home"

# $1: heading line, $2: fence language. Prints the first such block after it.
block() {
    awk -v head="$1" -v lang="$2" '
        $0 == head { found = 1; next }
        found && !inb && $0 == "```" lang { inb = 1; next }
        inb && $0 == "```" { exit }
        inb { print }
    ' "$src_dir/README.md"
}
block "## Using the library" sh >"$tmp/recipe.sh"
block "### A tour" c >"$tmp/home/tour.c"
for f in recipe.sh home/tour.c; do
    if [ ! -s "$tmp/$f" ]; then
        echo "check_readme: README.md has no ${f##*.} block where expected" >&2
        exit 1
    fi
done

cat >"$tmp/shim/make" <<EOS
#!/bin/sh
[ "\$1" = install ] || { echo "make (test stand-in): only 'make install PREFIX=DIR'" >&2; exit 2; }
prefix=/usr/local
for a in "\$@"; do case \$a in PREFIX=*) prefix=\${a#PREFIX=} ;; esac; done
exec "$cmake_cmd" --install "$build_dir" --prefix "\$prefix"
EOS
cat >"$tmp/shim/cc" <<EOS
#!/bin/sh
exec "$cc_cmd" $extra_cflags "\$@"
EOS
chmod +x "$tmp/shim/make" "$tmp/shim/cc"

echo "--- the README's recipe:"
cat "$tmp/recipe.sh"
echo "---"
cd "$tmp/home"
if ! env -u LD_LIBRARY_PATH -u PKG_CONFIG_PATH HOME="$tmp/home" PATH="$tmp/shim:$PATH" \
        sh -e "$tmp/recipe.sh" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    echo "check_readme: the README's recipe failed" >&2
    exit 1
fi
cat "$tmp/out"

version=$(sed -n 's/^Version: //p' "$tmp/home/.local/lib/pkgconfig/uhmm.pc")
grep -qx "libuhmm $version" "$tmp/out" || {
    echo "check_readme: the tour did not print 'libuhmm $version' (uhmm_version())" >&2
    exit 1
}
grep -q '^done: ' "$tmp/out" || {
    echo "check_readme: the tour did not finish ('done: ...')" >&2
    exit 1
}
echo "check_readme: the README's recipe builds and runs the tour"
