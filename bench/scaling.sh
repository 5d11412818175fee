#!/bin/sh
# scaling.sh: pushbench W1 (at-least-once) as consumers go 1 -> 16 and the
# payload 16 B -> 64 KiB; writes docs/scaling-consumers.tsv,
# docs/scaling-size.tsv and plots both into docs/scaling.png (gnuplot).
#
# usage: sh bench/scaling.sh [BUILD_DIR]     (default: build)
#        sh bench/scaling.sh --plot          (plot the tables already there)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
plot_only=0
[ "$build" = "--plot" ] && plot_only=1
bench="$build/bench/pushbench"
command -v gnuplot >/dev/null || { echo "scaling.sh: needs gnuplot" >&2; exit 1; }
if [ "$plot_only" -eq 0 ]; then
[ -x "$bench" ] || { echo "scaling.sh: no $bench; build first" >&2; exit 1; }

# The median events/s of three runs, from pushbench's JSON line.
rate() {
	"$bench" --workload W1 --delivery at-least-once --runs 3 --json "$@" |
	    sed -n 's/.*"events_per_s":\([0-9]*\).*/\1/p'
}

printf 'consumers\tevents_per_s\n' >docs/scaling-consumers.tsv
for n in 1 2 4 8 16; do
	printf '%s\t%s\n' "$n" "$(rate --consumers "$n")" >>docs/scaling-consumers.tsv
done

printf 'size\tevents\tevents_per_s\tmib_per_s\n' >docs/scaling-size.tsv
for size in 16 64 256 1024 4096 16384 65536; do
	# At most 1,000,000 events and 256 MiB of payload a run.
	events=$((268435456 / size))
	[ "$events" -gt 1000000 ] && events=1000000
	r=$(rate --size "$size" --events "$events")
	printf '%s\t%s\t%s\t%s\n' "$size" "$events" "$r" \
	    "$(awk -v r="$r" -v s="$size" 'BEGIN { printf "%.1f", r * s / 1048576 }')" \
	    >>docs/scaling-size.tsv
done
fi

gnuplot <<'PLOT'
set terminal png size 1000,420
set output 'docs/scaling.png'
set multiplot layout 1,2 title "pushbench W1, at-least-once (2-core machine)"
set grid
set key bottom right
set xlabel "consumer processes"
set ylabel "events/s"
set logscale x 2
set format y "%.1s%c"
plot 'docs/scaling-consumers.tsv' skip 1 using 1:2 with linespoints lw 2 title "64-byte events"
set xlabel "payload bytes"
set ylabel "events/s"
set key center right
set y2label "MiB/s"
set y2tics
set ytics nomirror
plot 'docs/scaling-size.tsv' skip 1 using 1:3 with linespoints lw 2 title "events/s", \
     '' skip 1 using 1:4 axes x1y2 with linespoints lw 2 title "MiB/s of payload"
unset multiplot
PLOT
echo "scaling.sh: wrote docs/scaling-consumers.tsv, docs/scaling-size.tsv, docs/scaling.png"
