#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# usage: check-deps.sh <debian-package>...
# Installs the missing packages with ONE apt-get call when root; otherwise
# prints the command to run and fails.
set -euo pipefail

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system (no dpkg-query); make sure these are installed: $*" >&2
    exit 0
fi

missing=()
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "==> deps: all present"
    exit 0
fi

cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    echo "==> deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: install them with:" >&2
    echo "    sudo sh -c '$cmd'" >&2
    exit 1
fi
