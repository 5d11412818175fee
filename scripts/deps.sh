#!/bin/sh
# deps.sh: install what building and testing pushstage needs, if missing.
# Debian or Ubuntu; runs apt-get (through sudo when not root) only when a
# package is absent, so a second run changes nothing.
set -eu

# Arguments name more packages to have (test.sh: clang for the fuzzers).
pkgs="gcc libc6-dev libevent-dev check meson ninja-build pkg-config python3
libhiredis-dev redis-server libnats-dev python3-pip python3-setuptools
python3-wheel python3-redis tzdata $*"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "deps.sh: need root (or sudo) to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
