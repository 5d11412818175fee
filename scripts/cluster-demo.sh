#!/bin/sh
# cluster-demo.sh: pushstage on several hosts, on this one.  Starts a
# three-node NATS JetStream cluster on 127.0.0.1 (streams replicated
# three times), two producerd "hosts" a and b, each with its own socket
# and two consumers, and enqueues on both: the output shows events
# enqueued on one host consumed on the other (docs/cluster.md).  Installs
# what is missing, builds, stops everything it started by itself.
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh nats-server
if [ ! -d build ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
bin=build

dir=$(mktemp -d "${TMPDIR:-/tmp}/pushstage-cluster.XXXXXX")
pids=""
stop() {
	for p in $pids; do
		kill "$p" 2>/dev/null || :
		wait "$p" 2>/dev/null || :
	done
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 1' INT TERM

# Free loopback ports: client and route for each of the three nodes.
ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()')
set -- $ports
c1=$1 c2=$2 c3=$3 r1=$4 r2=$5 r3=$6
routes="nats://127.0.0.1:$r1,nats://127.0.0.1:$r2,nats://127.0.0.1:$r3"
# Each node is printed as it is run, -routes and all: copied, the three
# lines make the same cluster.
for n in 1 2 3; do
	eval c=\$c$n r=\$r$n
	set -- nats-server -js -n "n$n" --cluster_name ps -a 127.0.0.1 \
	    -p "$c" -cluster "nats://127.0.0.1:$r" -routes "$routes" \
	    -sd "$dir/n$n"
	echo "\$ $* &"
	"$@" >"$dir/n$n.log" 2>&1 &
	pids="$pids $!"
done
urls="nats://127.0.0.1:$c1,nats://127.0.0.1:$c2,nats://127.0.0.1:$c3"

for h in a b; do
	echo "\$ producerd --socket $dir/$h.sock --cluster ... --cluster-replicas 3 &"
	"$bin/producerd/producerd" --socket "$dir/$h.sock" --cluster "$urls" \
	    --cluster-replicas 3 --log-level warning 2>>"$dir/$h.log" &
	pids="$pids $!"
done
pushctl() { h=$1; shift; "$bin/pushctl/pushctl" --socket "$dir/$h.sock" "$@"; }

# Until both hosts are linked and the cluster has a JetStream leader,
# which takes a few seconds: an ENQUEUE is answered once it is stored.
i=0
until pushctl a enqueue -q warmup hello >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		echo "cluster-demo: the cluster did not come up in 30 s;" \
		    "see $dir" >&2
		exit 1
	fi
	sleep 0.1
done

for h in a b; do
	for w in 1 2; do
		echo "\$ consumer --socket $h.sock --id $h$w --exec 'echo $h$w on host $h got \$(cat) >> got' &"
		# One line per event, written at once: the four do not mix.
		"$bin/consumer/consumer" --socket "$dir/$h.sock" --id "$h$w" \
		    --max-demand 2 --exec "echo \"$h$w on host $h got \$(cat)\" >> '$dir/got'" \
		    --log-level warning >/dev/null 2>&1 &
		pids="$pids $!"
	done
done
sleep 0.5

# --retry: the queue's stream is made on its first use, which a slow
# machine may take longer than an ENQUEUE waits for.
echo "\$ pushctl --socket a.sock enqueue --retry 30 from-a-1 ... from-a-4"
pushctl a enqueue --retry 30 from-a-1 from-a-2 from-a-3 from-a-4
echo "\$ pushctl --socket b.sock enqueue --retry 30 from-b-1 ... from-b-4"
pushctl b enqueue --retry 30 from-b-1 from-b-2 from-b-3 from-b-4

# Until every event is acked, on one host or the other.
i=0
while :; do
	n=0
	for h in a b; do
		v=$(pushctl "$h" stats --json | python3 -c \
		    'import json,sys; print(json.load(sys.stdin)["acked_total"])')
		n=$((n + v))
	done
	[ "$n" -ge 8 ] && break
	i=$((i + 1))
	if [ $i -gt 300 ]; then
		echo "cluster-demo: not every event was consumed in 30 s" >&2
		exit 1
	fi
	sleep 0.1
done
sort -k5 "$dir/got"
echo "cluster-demo: 8 events, each consumed once, on hosts a and b;" \
    "JetStream keeps three copies of each until it is acked"
