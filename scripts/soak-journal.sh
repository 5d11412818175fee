#!/bin/sh
# soak-journal.sh: the journal's crash loop for longer than CI runs it:
# ROUNDS kill -9s (default 500) for each --fsync mode, on a release build.
#   sh scripts/soak-journal.sh [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-500}
sh scripts/deps.sh
[ -d build-rel ] || meson setup build-rel --buildtype=release >/dev/null
ninja -C build-rel producerd/producerd >/dev/null
for mode in batch always interval:50 never; do
	PRODUCERD=build-rel/producerd/producerd \
	    python3 tests/crashloop.py --rounds "$rounds" --fsync "$mode"
done
