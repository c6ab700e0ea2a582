#!/bin/sh
# SPDX-License-Identifier: MIT
# license.spdx: LICENSE is the MIT license, and every source file of the tree
# starts with an SPDX line naming it (the second line after a #! line).
#
# usage: check_spdx.sh <source-dir> [--fix]
#   --fix  add the line, in the file's comment syntax, where it is missing.
#
# Source files: C and C++ (.c .h .cpp), linker maps (.map), shell, Python,
# CMake (.cmake, CMakeLists.txt, .in templates), Makefiles, .ci/run, man
# pages (.1). Not: documentation (.md), JSON (no comments), the scenario
# scripts (.uhmm: test data whose line numbers the tests check) and the fuzz
# corpus. The list is the tracked files (git ls-files) when the tree is a git
# checkout, else every file outside build directories.
set -eu

src=${1:?usage: check_spdx.sh <source-dir> [--fix]}
fix=${2:-}
tag='SPDX-License-Identifier: MIT'
cd "$src"

if ! grep -q '^MIT License' LICENSE 2>/dev/null; then
    echo "license: LICENSE is missing or is not the MIT license" >&2
    exit 1
fi

if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    list() { git ls-files; }
else
    list() { find . -path ./build -prune -o -path ./.git -prune -o -path './build-*' -prune -o -type f -print |
        sed 's|^\./||'; }
fi

# The comment that carries the tag in a file of this name, or nothing.
comment_for() {
    case $1 in
        fuzz/corpus/*) ;;
        *.c | *.h | *.cpp | *.map) echo "/* $tag */" ;;
        *.sh | *.py | *.cmake | */CMakeLists.txt | CMakeLists.txt | *.in | Makefile | */Makefile | .ci/run)
            echo "# $tag" ;;
        *.1) echo ".\\\" $tag" ;;
    esac
}

missing=0
checked=0
tmpf=$(mktemp "${TMPDIR:-/tmp}/uhmm-spdx.XXXXXX")
trap 'rm -f "$tmpf"' EXIT INT TERM
list >"$tmpf.list"
trap 'rm -f "$tmpf" "$tmpf.list"' EXIT INT TERM
while IFS= read -r f; do
    [ -f "$f" ] || continue
    c=$(comment_for "$f")
    [ -n "$c" ] || continue
    checked=$((checked + 1))
    first=$(sed -n 1p "$f")
    case $first in
        '#!'*) n=2 ;;
        *) n=1 ;;
    esac
    if sed -n "${n}p" "$f" | grep -qF "$tag"; then
        continue
    fi
    if [ "$fix" = --fix ]; then
        if [ "$n" = 2 ]; then
            { sed -n 1p "$f"; echo "$c"; sed 1d "$f"; } >"$tmpf"
        else
            { echo "$c"; cat "$f"; } >"$tmpf"
        fi
        cat "$tmpf" >"$f"    # keeps the file's mode
        echo "license: added to $f"
    else
        echo "license: $f: line $n lacks '$c'" >&2
        missing=$((missing + 1))
    fi
done <"$tmpf.list"

if [ "$checked" -eq 0 ]; then
    echo "license: no source files found under $src" >&2
    exit 1
fi
if [ "$missing" -ne 0 ]; then
    echo "license: $missing of $checked source files lack the SPDX line; add it with" >&2
    echo "    sh tests/license/check_spdx.sh . --fix" >&2
    exit 1
fi
echo "license: LICENSE is MIT; all $checked source files carry '$tag'"
