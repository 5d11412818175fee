#!/bin/sh
# test.sh: install what is missing, build with warnings as errors, and run
# every test twice: plain, then under AddressSanitizer and
# UndefinedBehaviorSanitizer; then each libFuzzer target for FUZZ_SECONDS
# (default 60).  Ends with "N passed, N failed"; exits 0 only when nothing
# failed.
set -u
cd "$(dirname "$0")/.." || exit 1

# man-db: man --warnings; systemd: systemd-socket-activate, systemd-analyze;
# nats-server: the cluster tests' JetStream; chromium: the dashboard's
# browser tests (required here: -Dbrowser=enabled); mypy: the Python
# package checked --strict (py_mypy).
sh scripts/deps.sh clang libclang-rt-14-dev man-db systemd nats-server \
    chromium mypy || exit 1

passed=0
failed=0

# suite NAME MESON-OPTIONS...: build in build-NAME and run its tests.
suite() {
	name=$1
	shift
	dir="build-$name"
	log="$dir.out"
	echo "== $name: building in $dir"
	if [ -d "$dir" ]; then
		set -- --reconfigure "$@"
	fi
	if ! meson setup "$dir" --werror "$@" >"$log" 2>&1 ||
	    ! ninja -C "$dir" >>"$log" 2>&1; then
		cat "$log"
		echo "== $name: the build failed"
		failed=$((failed + 1))
		return
	fi
	echo "== $name: testing"
	meson test -C "$dir" --print-errorlogs >"$log" 2>&1
	sed -n '/^Summary of Failures/q; /^ *[0-9][0-9]*\/[0-9][0-9]* /p' "$log"
	grep -q '^Ok:' "$log" || cat "$log"
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log")
	bad=0
	for kind in Fail Timeout 'Unexpected Pass'; do
		n=$(sed -n "s/^$kind: *\([0-9]*\).*/\1/p" "$log")
		bad=$((bad + ${n:-0}))
	done
	if [ -z "$ok" ]; then
		echo "== $name: meson test did not finish"
		bad=$((bad + 1))
	fi
	if [ "$bad" -ne 0 ]; then
		sed -n '/^Summary of Failures/,$p' "$log"
	fi
	passed=$((passed + ${ok:-0}))
	failed=$((failed + bad))
}

suite plain -Dbuildtype=debugoptimized -Dbrowser=enabled
# Any report fails the program that made it, and so its test.
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
suite sanitize -Dbuildtype=debug -Dbrowser=enabled \
    -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all

# fuzz NAME: run one libFuzzer target from its seed corpus, on a copy.
fuzz() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/pushstage-fuzz.XXXXXX")
	echo "== fuzz: $1 for ${FUZZ_SECONDS}s"
	if build-fuzz/fuzz/fuzz_"$1" -max_total_time="$FUZZ_SECONDS" \
	    -timeout=10 -print_final_stats=1 -artifact_prefix="$work/" \
	    "$work" "fuzz/corpus/$1" >"build-fuzz/$1.out" 2>&1; then
		grep -E '^(Done|stat::number_of_executed_units)' \
		    "build-fuzz/$1.out"
		passed=$((passed + 1))
	else
		tail -60 "build-fuzz/$1.out"
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
		echo "== fuzz: $1 FAILED"
		failed=$((failed + 1))
	fi
	rm -rf "$work"
}

# The fuzzers: clang, sanitizers, and a bounded time each.
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
echo "== fuzz: building in build-fuzz"
if [ -d build-fuzz ]; then
	fuzzre=--reconfigure
else
	fuzzre=
fi
if CC=clang meson setup build-fuzz $fuzzre --werror -Dtests=false \
    -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all >build-fuzz.out 2>&1 &&
    ninja -C build-fuzz >>build-fuzz.out 2>&1; then
	fuzz decoder
	fuzz conn
	fuzz replay
	fuzz json
	fuzz task
	fuzz cron
	fuzz schedules
else
	cat build-fuzz.out
	echo "== fuzz: the build failed"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
