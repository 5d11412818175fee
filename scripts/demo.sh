#!/bin/sh
# demo.sh: install what is missing, build, and run the seed's demo: a
# producerd, three consumers that each take one event at a time and work
# 500-1500 ms on it, "hello", then five messages.  Stops by itself.
set -eu
cd "$(dirname "$0")/.."

# The first build takes a minute or two, said as it goes: a demo that
# sits silent looks hung.
echo "demo: checking the Debian packages it needs (scripts/deps.sh)" >&2
sh scripts/deps.sh
if [ ! -d build ]; then
	echo "demo: configuring build/ (meson setup build)" >&2
	meson setup build >/dev/null
fi
left=$(ninja -C build -n | grep -c '^\[' || :)
if [ "$left" -gt 0 ]; then
	echo "demo: building the programs in build/ (ninja -C build, $left" \
	    "to do; about a minute and a half the first time on two cores)" >&2
	start=$(date +%s)
	ninja -C build >/dev/null
	echo "demo: built in $(($(date +%s) - start)) s; the programs are" \
	    "in build/ (README.md, Installing, puts them on PATH)" >&2
fi
echo "demo: starting producerd and three consumers" >&2

bin=build
dir=$(mktemp -d "${TMPDIR:-/tmp}/pushstage-demo.XXXXXX")
sock="$dir/ps.sock"
pids=""
stop() {
	# Consumers first, then the daemon, which removes its socket.
	for p in $pids; do
		kill "$p" 2>/dev/null || :
		wait "$p" 2>/dev/null || :
	done
	pids=""
	if [ -n "${daemon:-}" ]; then
		kill "$daemon" 2>/dev/null || :
		wait "$daemon" 2>/dev/null || :
		daemon=""
	fi
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 1' INT TERM

pushctl() { "$bin/pushctl/pushctl" --socket "$sock" "$@"; }

# Waits until every consumer has finished what it was given.
settle() {
	want=$1
	i=0
	while [ $i -lt 200 ]; do
		s=$(pushctl stats --json)
		# Consumers ack each event when they finish it.
		case $s in
		*"\"acked_total\":$want,"*)
			return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	echo "demo: consumers did not finish in 20 s" >&2
	exit 1
}

echo "\$ producerd --socket $sock &"
"$bin/producerd/producerd" --socket "$sock" --log-level warning &
daemon=$!
i=0
until pushctl stats >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: producerd did not start" >&2; exit 1; }
	sleep 0.05
done
for id in 1 2 3; do
	echo "\$ consumer --socket $sock --id $id --work-ms 500-1500 &"
	"$bin/consumer/consumer" --socket "$sock" --id $id --work-ms 500-1500 &
	pids="$pids $!"
done
until pushctl stats --json | grep -q '"consumers_connected":3,'; do
	sleep 0.05
done

echo "\$ pushctl enqueue hello"
pushctl enqueue hello
settle 1
echo "\$ pushctl enqueue 'message 1' 'message 2' 'message 3' 'message 4' 'message 5'"
pushctl enqueue "message 1" "message 2" "message 3" "message 4" "message 5"
settle 6
echo "\$ pushctl stats"
pushctl stats
