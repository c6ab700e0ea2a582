#!/bin/sh
# SPDX-License-Identifier: MIT
# headers.*: the public headers compile warning-free (-Wall -Wextra -pedantic
# -Werror) in every language mode uhmm supports, alone and together.
#
# usage: check_headers.sh <include-dir> <c|c++> <compiler> <std>...
#   c:   e.g. c99 c11 c17       c++: e.g. c++11 c++14 c++17 c++20 c++23
# Each header is compiled alone (it must be self-contained) in the first
# mode, and all of them together, using every static inline function, in
# every mode. A compiler that knows c++23 only as c++2b (clang 14) gets that.
set -eu

incdir=${1:?usage: check_headers.sh <include-dir> <c|c++> <compiler> <std>...}
lang=${2:?}
cc=${3:?}
shift 3

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "headers: compiler $cc not found: skipping" >&2
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uhmm-headers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

case $lang in
    c) ext=c ;;
    c++) ext=cpp ;;
    *) echo "headers: unknown language $lang" >&2; exit 2 ;;
esac

{
    for h in "$incdir"/uhmm/*.h; do
        echo "#include <uhmm/$(basename "$h")>"
    done
    cat <<'EOC'
/* Every static inline function of the public headers, used. */
int uhmm_headers_use(const struct uhmm_mmu_notifier_range *r, unsigned long v);
int uhmm_headers_use(const struct uhmm_mmu_notifier_range *r, unsigned long v)
{
	return (int)(uhmm_pfn_to_pfn(v) + uhmm_pfn_to_map_order(v) + uhmm_migrate_pfn(v) +
		     uhmm_migrate_pfn_to_pfn(v)) + (uhmm_mmu_notifier_range_blockable(r) ? 1 : 0);
}
EOC
} >"$tmp/all.$ext"

flags="-Wall -Wextra -pedantic -Werror -fsyntax-only -I$incdir"
fail=0
first=1
for std in "$@"; do
    s=$std
    if ! "$cc" -std="$s" -x "$lang" -E - </dev/null >/dev/null 2>&1; then
        case $s in
            c++23) s=c++2b ;;
            c++20) s=c++2a ;;
        esac
    fi
    if [ "$first" = 1 ]; then
        for h in "$incdir"/uhmm/*.h; do
            name=$(basename "$h")
            printf '#include <uhmm/%s>\nextern int uhmm_headers_one;\n' "$name" >"$tmp/one.$ext"
            # shellcheck disable=SC2086  # the flag list is split on purpose
            if ! "$cc" -std="$s" $flags "$tmp/one.$ext" 2>"$tmp/err"; then
                echo "FAIL: $cc -std=$s: <uhmm/$name> alone:" >&2
                cat "$tmp/err" >&2
                fail=1
            fi
        done
        [ "$fail" = 1 ] || echo "ok: $cc -std=$s: each public header alone"
        first=0
    fi
    # shellcheck disable=SC2086
    if "$cc" -std="$s" $flags "$tmp/all.$ext" 2>"$tmp/err"; then
        echo "ok: $cc -std=$s: every public header"
    else
        echo "FAIL: $cc -std=$s: every public header:" >&2
        cat "$tmp/err" >&2
        fail=1
    fi
done
exit $fail
