/*
 * pushbench.c: pushstage's benchmark: options, the runs, and the report
 * (docs/performance.md).  Each workload runs --runs times on a fresh
 * daemon; the report gives the median and the range, and whether every
 * event arrived exactly once.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "frame.h"
#include "log.h"
#include "opt.h"

#define MAX_RUNS	15
#define PARSE_UNAVAILABLE	(-78)	/* settings_parse: exit 78 */

static const char *workloads[] = { "W1", "W2", "W3", "W4", "W5", "W6",
    "W7", "W8" };

/* Which peers and which floor a workload is measured against. */
static int
with_redis(const char *w)
{
	return strcmp(w, "W1") == 0 || strcmp(w, "W2") == 0 ||
	    strcmp(w, "W4") == 0;
}

/* BLMOVE takes one event at a time: no peer for a batched workload. */
static int
with_redis_reliable(const char *w)
{
	return strcmp(w, "W2") == 0;
}

static int
with_beanstalkd(const char *w)
{
	return strcmp(w, "W1") == 0 || strcmp(w, "W2") == 0;
}
static const char *modes[] = { "at-least-once", "at-most-once" };

static void
usage(FILE *f)
{
	fprintf(f,
"usage: pushbench [--workload W1|...|W8] [--delivery MODE]\n"
"                 [--size BYTES]\n"
"                 [--consumers N] [--events N] [--runs N] [--compare]\n"
"                 [--window N[,N...]] [--batch N] [--system NAME]\n"
"                 [--quick] [--json]\n"
"                 [--producerd PATH | --socket PATH] [--fsync MODE]\n"
"       pushbench --cluster R1|R3 [--workload W1|W2] [options as above]\n"
"       pushbench --http [--runs N] [--events N] [--quick] [--json]\n"
"\n"
"Measures pushstage: starts a private producerd for each run, consumer\n"
"processes and an enqueuing client on libpushstage, as a user's, and\n"
"reports events/s, latency, the daemon's CPU and peak memory, and whether\n"
"each event arrived exactly once (docs/performance.md).\n"
"\n"
"  W1  batched throughput: 1,000,000 events in batches of --batch, with\n"
"      --window batches in flight; consumers with max-demand --batch,\n"
"      min-demand half that\n"
"  W2  one at a time: 200,000 events, consumers with max-demand 1\n"
"  W3  latency: one event every 100 us for 5 s, one consumer\n"
"  W4  backlog: 1,000,000 events with no consumer, then they drain\n"
"  W5  fan-out: 4 groups of 2 consumers on one queue; 1,000,000 events\n"
"      enqueued with no consumer (memory per event), then every group\n"
"      drains its copy (events/s: deliveries, every group's)\n"
"  W6  key order: 1,000,000 events over 10,000 keys into a queue with\n"
"      dispatch=key and no consumer (memory per keyed event), then 4\n"
"      consumers of demand --batch drain them (at-least-once only)\n"
"  W7  many queues: 10,000 queues made empty (memory per empty queue),\n"
"      one event into each (memory per such queue), then 4 consumers\n"
"      drain them, each subscribing to its share in turn (--events: the\n"
"      number of queues)\n"
"  W8  delayed: 1,000,000 events each delayed 2 s plus 0 to 10 s, with\n"
"      consumers waiting (memory per delayed event); events/s: deliveries\n"
"      from the first due time; latency: each from its due time\n"
"\n"
"  --workload W        only this one (default: all)\n"
"  --delivery MODE     at-least-once or at-most-once (default: both)\n"
"  --size BYTES        payload size, 16 to 1048000 (default 64)\n"
"  --header NAME=VALUE a header on every event pushstage's client\n"
"                      enqueues (repeatable): what headers cost\n"
"  --consumers N       consumer processes for W1, W2, W4 (default 4)\n"
"  --events N          events per run instead of the workload's own\n"
"  --runs N            runs of each (default 3; median and range)\n"
"  --compare           also each workload's floor (W1, W4: the raw stream;\n"
"                      W2: 4 clients' round trips to one epoll process;\n"
"                      W3: the one-way relay), Redis (W1, W2, W4) when\n"
"                      redis-server is installed, with its reliable\n"
"                      queue, BLMOVE then LREM (W2), and beanstalkd (W1,\n"
"                      W2) when it is; every system with the same\n"
"                      --window and --batch\n"
"  --system NAME       only pushstage, redis, redis-reliable, beanstalkd,\n"
"                      floor or jetstream (with --compare's settings): to\n"
"                      profile one alone\n"
"  --window N[,N...]   batches in flight from the client (default 4); a\n"
"                      list, such as 1,2,4,8,16,32, runs every workload\n"
"                      (and with --compare every system) at each depth in\n"
"                      turn: up to 16 depths, each 1 to 1024 (W3 and the\n"
"                      floors keep no window: once)\n"
"  --batch N           events a batch, and a pop's COUNT (default 256)\n"
"  --quick             small counts, one run: for the test suite\n"
"  --json              one JSON object per line instead of the table\n"
"  --producerd PATH    the daemon to start (default: the one built with it)\n"
"  --fsync MODE        journal the daemon: --data-dir in a temporary\n"
"                      directory with --fsync MODE (docs/journal.md);\n"
"                      with --compare, Redis with its append-only file\n"
"                      and beanstalkd with its binlog, fsynced alike\n"
"  --socket PATH       use a running daemon instead (no CPU or memory\n"
"                      figures)\n"
"  --cluster R1|R3     W1 and W2 with producerd --cluster in front of\n"
"                      NATS JetStream (R1: one nats-server, R3: three,\n"
"                      streams replicated three times; started for each\n"
"                      run on loopback ports), at least once; and the\n"
"                      same work by a plain libnats client straight on\n"
"                      JetStream (system jetstream)\n"
"  --http              what the dashboard costs (docs/http.md): the\n"
"                      daemon's CPU per API request with 1,000 queues\n"
"                      and 1,000 consumers; the share of its thread 50\n"
"                      dashboards polling as the page does take; then W1\n"
"                      at least once on a daemon with --http, with no\n"
"                      dashboard and with the 50, in turn\n"
"  -h, --help          this help\n"
"  -V, --version       the version\n"
"\n"
"Exit status: 0 when every run finished with each event exactly once.\n");
}

static int
by_rate(const void *a, const void *b)
{
	double	 x = ((const struct result *)a)->rate;
	double	 y = ((const struct result *)b)->rate;

	return x < y ? -1 : x > y;
}

/* The server's CPU per event taken in, user and system: 0 without one. */
static double
ns_per_event(const struct result *r)
{
	return r->events == 0 ? 0 : r->cpu * 1e9 / (double)r->events;
}

static void
json_result(const struct result *r, const struct result *lo,
    const struct result *hi, int runs)
{
	printf("{\"workload\":\"%s\",\"mode\":\"%s\",\"events\":%llu,"
	    "\"runs\":%d,\"events_per_s\":%.0f,\"events_per_s_min\":%.0f,"
	    "\"events_per_s_max\":%.0f,\"daemon_cpu_s\":%.3f,"
	    "\"daemon_peak_rss_kib\":%llu,\"exactly_once\":%s",
	    r->workload, r->mode, (unsigned long long)r->events, runs, r->rate,
	    lo->rate, hi->rate, r->cpu, (unsigned long long)r->rss_peak_kb,
	    r->exact ? "true" : "false");
	printf(",\"daemon_user_s\":%.3f,\"daemon_sys_s\":%.3f,"
	    "\"daemon_faults\":%llu,\"daemon_ns_per_event\":%.0f",
	    r->cpu_user, r->cpu_sys, (unsigned long long)r->faults,
	    ns_per_event(r));
	printf(",\"in_flight_batches\":%u,\"batch\":%u,\"acks\":%s",
	    r->depth, r->batch, r->acks ? "true" : "false");
	if (r->has_lat)
		printf(",\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,"
		    "\"p99_9\":%.1f,\"max\":%.1f},\"latency_from_send_us\":"
		    "{\"p50\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,\"max\":%.1f}",
		    r->lat[0], r->lat[1], r->lat[2], r->lat[3], r->lat_sent[0],
		    r->lat_sent[1], r->lat_sent[2], r->lat_sent[3]);
	if (r->has_lat && r->enq_rate != 0)
		printf(",\"enqueue_per_s\":%.0f,\"daemon_bytes_per_delayed_event\""
		    ":%.1f", r->enq_rate, r->per_event);
	else if (r->per_queue != 0)
		printf(",\"enqueue_per_s\":%.0f,"
		    "\"daemon_bytes_per_empty_queue\":%.0f,"
		    "\"daemon_bytes_per_queue_with_one_event\":%.0f",
		    r->enq_rate, r->per_queue, r->per_event);
	else if (r->enq_rate != 0)
		printf(",\"enqueue_per_s\":%.0f,\"daemon_bytes_per_event\":%.1f",
		    r->enq_rate, r->per_event);
	printf("}\n");
}

static void
table_result(const struct result *r, const struct result *lo,
    const struct result *hi)
{
	char	 extra[256] = "";

	if (r->has_lat && r->enq_rate != 0)
		snprintf(extra, sizeof extra, "enqueue %.0f/s, %.1f B/delayed "
		    "event over payload; p50 %.1f p99 %.1f max %.1f ms late",
		    r->enq_rate, r->per_event, r->lat[0] / 1000,
		    r->lat[1] / 1000, r->lat[3] / 1000);
	else if (r->has_lat)
		snprintf(extra, sizeof extra, "p50 %.1f p99 %.1f p99.9 %.1f "
		    "max %.1f us from due; p50 %.1f p99 %.1f from sent",
		    r->lat[0], r->lat[1], r->lat[2], r->lat[3], r->lat_sent[0],
		    r->lat_sent[1]);
	else if (r->per_queue != 0)
		snprintf(extra, sizeof extra, "%.0f B per empty queue, %.0f B "
		    "per queue with one event over its payload; enqueue "
		    "%.0f/s", r->per_queue, r->per_event, r->enq_rate);
	else if (r->enq_rate != 0)
		snprintf(extra, sizeof extra, "enqueue %.0f/s, %.1f B/event "
		    "over payload", r->enq_rate, r->per_event);
	printf("%-10s %-18s %5u %9llu %11.0f %11.0f-%-11.0f %7.2f %6.2f %7.0f "
	    "%9llu  %-5s %s\n", r->workload, r->mode, r->depth,
	    (unsigned long long)r->events, r->rate, lo->rate, hi->rate, r->cpu,
	    r->cpu_sys, ns_per_event(r), (unsigned long long)r->rss_peak_kb,
	    r->exact ? "yes" : "NO", extra);
}

/* Median of runs by rate; the range alongside. */
static int
report(const struct settings *s, struct result *rs, int n)
{
	struct result	*mid;

	if (n == 0)
		return -1;
	qsort(rs, (size_t)n, sizeof *rs, by_rate);
	mid = &rs[n / 2];
	if (s->json)
		json_result(mid, &rs[0], &rs[n - 1], n);
	else
		table_result(mid, &rs[0], &rs[n - 1]);
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		if (!rs[i].exact)
			return -1;
	}
	return 0;
}

/* Is this system measured (--system, or all)? */
static int
system_on(const struct settings *s, const char *name)
{
	return s->system == NULL || strcmp(s->system, name) == 0;
}

#ifdef HAVE_NATS
/*
 * --cluster: runs of workload w on pushstage in front of JetStream, then
 * the same straight on JetStream, each run on a NATS of its own.  The
 * number of measurements that failed.
 */
static int
cluster_runs(struct settings *s, const char *w)
{
	struct nats_nodes	 nn;
	struct result		 rs[MAX_RUNS];
	int			 sys, i, n, failed = 0;

	for (sys = 0; sys < 2; sys++) {
		if (!system_on(s, sys == 0 ? "pushstage" : "jetstream"))
			continue;
		for (i = n = 0; i < s->runs; i++) {
			if (nats_start(s->cluster, &nn) != 0)
				continue;
			s->cluster_urls = nn.urls;
			if ((sys == 0 ? work_run(s, w, modes[0], &rs[n]) :
			    jetstream_run(s, w, nn.urls, &rs[n])) == 0) {
				if (sys == 0)
					snprintf(rs[n].mode, sizeof rs[n].mode,
					    "pushstage R%d", s->cluster);
				n++;
			}
			s->cluster_urls = NULL;
			nats_stop(&nn);
		}
		if (n < s->runs || report(s, rs, n) != 0)
			failed++;
	}
	return failed;
}
#endif

/*
 * --window N or N,N,...: the depths to run every workload at, in turn, each
 * from 1 to 1024; 0, or -1 said naming the value that is wrong.
 */
static int
window_list(struct settings *s, const char *arg)
{
	char		 buf[256], *p, *one;
	uint64_t	 v;

	if (strlen(arg) >= sizeof buf) {
		log_errorx("--window: \"%.32s...\" is too long: at most %d "
		    "depths", arg, MAX_WINDOWS);
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", arg);
	s->nwindows = 0;
	for (p = buf; (one = strsep(&p, ",")) != NULL;) {
		if (s->nwindows == MAX_WINDOWS) {
			log_errorx("--window: \"%s\": more than %d depths", arg,
			    MAX_WINDOWS);
			return -1;
		}
		if (opt_parse_u64(one, 1, 1024, &v) != 0) {
			if (strchr(arg, ',') == NULL)
				log_errorx("--window: \"%s\" is not a whole "
				    "number from 1 to 1024", arg);
			else
				log_errorx("--window: \"%s\" in \"%s\" is not "
				    "a whole number from 1 to 1024", one, arg);
			return -1;
		}
		s->windows[s->nwindows++] = (uint32_t)v;
	}
	s->window = s->windows[0];
	return 0;
}

/*
 * Fill s from argv, every value checked: 0 to run, 1 to exit 0 (--help,
 * --version), -1 to exit 1 after saying what is wrong, PARSE_UNAVAILABLE
 * to exit 78 (--cluster without libnats).
 */
static int
settings_parse(struct settings *s, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "workload",	required_argument,	NULL, 'w' },
		{ "delivery",	required_argument,	NULL, 'd' },
		{ "size",	required_argument,	NULL, 's' },
		{ "header",	required_argument,	NULL, 'G' },
		{ "consumers",	required_argument,	NULL, 'c' },
		{ "events",	required_argument,	NULL, 'e' },
		{ "runs",	required_argument,	NULL, 'r' },
		{ "compare",	no_argument,		NULL, 'C' },
		{ "quick",	no_argument,		NULL, 'q' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "producerd",	required_argument,	NULL, 'p' },
		{ "socket",	required_argument,	NULL, 'S' },
		{ "fsync",	required_argument,	NULL, 'F' },
		{ "window",	required_argument,	NULL, 'W' },
		{ "batch",	required_argument,	NULL, 'B' },
		{ "system",	required_argument,	NULL, 'Y' },
		{ "cluster",	required_argument,	NULL, 'K' },
		{ "http",	no_argument,		NULL, 'H' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	uint32_t	 v;
	size_t		 w;
	int		 ch;

	memset(s, 0, sizeof *s);
	s->producerd = PRODUCERD_PATH;
	s->size = 64;
	s->consumers = 4;
	s->runs = 3;
	s->window = s->windows[0] = 4;
	s->nwindows = 1;
	s->batch = 256;
	while ((ch = getopt_long(argc, argv, "w:d:s:c:e:r:Cqjp:S:F:W:B:K:HhV",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			s->only = optarg;
			break;
		case 'd':
			if (strcmp(optarg, modes[0]) != 0 &&
			    strcmp(optarg, modes[1]) != 0) {
				log_errorx("--delivery: \"%s\" is not %s or %s",
				    optarg, modes[0], modes[1]);
				return -1;
			}
			s->delivery = optarg;
			break;
		case 's':
			if (opt_u32("--size", optarg, STAMP_LEN, 1048000,
			    &v) != 0)
				return -1;
			s->size = v;
			break;
		case 'G':
			if (strchr(optarg, '=') == NULL || s->nheaders == 16) {
				log_errorx("--header: \"%s\" is not NAME=VALUE, "
				    "or more than 16", optarg);
				return -1;
			}
			s->headers[s->nheaders++] = optarg;
			break;
		case 'c':
			if (opt_u32("--consumers", optarg, 1, 64, &v) != 0)
				return -1;
			s->consumers = (int)v;
			break;
		case 'e':
			if (opt_u64("--events", optarg, 1, 100000000,
			    &s->events) != 0)
				return -1;
			break;
		case 'r':
			if (opt_u32("--runs", optarg, 1, MAX_RUNS, &v) != 0)
				return -1;
			s->runs = (int)v;
			break;
		case 'C':
			s->compare = 1;
			break;
		case 'q':
			s->quick = 1;
			break;
		case 'j':
			s->json = 1;
			break;
		case 'p':
			s->producerd = optarg;
			break;
		case 'S':
			s->socket = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "always") != 0 &&
			    strcmp(optarg, "batch") != 0 &&
			    strcmp(optarg, "never") != 0 &&
			    strncmp(optarg, "interval:", 9) != 0) {
				log_errorx("--fsync: \"%s\" is not always, "
				    "batch, never or interval:MS", optarg);
				return -1;
			}
			s->fsync = optarg;
			break;
		case 'W':
			if (window_list(s, optarg) != 0)
				return -1;
			break;
		case 'B':
			if (opt_u32("--batch", optarg, 1, 4096, &s->batch) != 0)
				return -1;
			break;
		case 'Y':
			if (strcmp(optarg, "pushstage") != 0 &&
			    strcmp(optarg, "redis") != 0 &&
			    strcmp(optarg, "redis-reliable") != 0 &&
			    strcmp(optarg, "beanstalkd") != 0 &&
			    strcmp(optarg, "floor") != 0 &&
			    strcmp(optarg, "jetstream") != 0) {
				log_errorx("--system: \"%s\" is not "
				    "pushstage, redis, redis-reliable, "
				    "beanstalkd, floor or jetstream", optarg);
				return -1;
			}
			s->system = optarg;
			s->compare = 1;
			break;
		case 'K':
			if (strcmp(optarg, "R1") != 0 &&
			    strcmp(optarg, "R3") != 0) {
				log_errorx("--cluster: \"%s\" is not R1 or R3",
				    optarg);
				return -1;
			}
			s->cluster = optarg[1] - '0';
			break;
		case 'H':
			s->http = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("pushbench %s (protocol %d)\n", PUSHSTAGE_VERSION,
			    PS_PROTO_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		log_errorx("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	for (w = 0; s->only != NULL && w < sizeof workloads /
	    sizeof workloads[0]; w++) {
		if (strcmp(s->only, workloads[w]) == 0)
			break;
	}
	if (s->only != NULL && w == sizeof workloads / sizeof workloads[0]) {
		log_errorx("--workload: \"%s\" is not W1, W2, W3, W4, W5, W6, "
		    "W7 or W8", s->only);
		return -1;
	}
	if (s->cluster != 0) {
#ifndef HAVE_NATS
		log_errorx("--cluster: pushbench was built without libnats "
		    "(apt-get install libnats-dev, then build again)");
		return PARSE_UNAVAILABLE;
#else
		if (s->socket != NULL || s->fsync != NULL) {
			log_errorx("--cluster does not go with --%s: it starts "
			    "its own producerd, and JetStream keeps the events",
			    s->socket != NULL ? "socket" : "fsync");
			return -1;
		}
		if (s->only != NULL && strcmp(s->only, "W1") != 0 &&
		    strcmp(s->only, "W2") != 0) {
			log_errorx("--cluster: --workload %s: only W1 and W2",
			    s->only);
			return -1;
		}
		if (!jetstream_available()) {
			log_errorx("--cluster: nats-server is not installed "
			    "(apt-get install nats-server)");
			return -1;
		}
#endif
	}
	if (s->http && s->nwindows > 1) {
		log_errorx("--http measures at one --window, not %d",
		    s->nwindows);
		return -1;
	}
	if (s->http && (s->socket != NULL || s->cluster != 0 ||
	    s->fsync != NULL)) {
		log_errorx("--http starts its own producerd: not with --%s",
		    s->socket != NULL ? "socket" : s->cluster ? "cluster" :
		    "fsync");
		return -1;
	}
	if (s->quick)
		s->runs = 1;
	return 0;
}

/*
 * Workload w's runs at depth s->window on pushstage in each delivery
 * mode, then on the systems it is compared with, and (at the first
 * depth) on its floor: the number of measurements that failed.
 */
static int
workload_runs(struct settings *s, size_t w, int first)
{
	const char	*name = workloads[w];
	struct result	 rs[MAX_RUNS];
	size_t		 m;
	int		 i, n, failed = 0;

#ifdef HAVE_NATS
	if (s->cluster != 0)
		return w < 2 ? cluster_runs(s, name) : 0;
#endif
	for (m = 0; m < 2; m++) {
		if ((s->delivery != NULL && strcmp(s->delivery, modes[m]) != 0) ||
		    !system_on(s, "pushstage"))
			continue;
		/* Key order needs acks. */
		if (strcmp(name, "W6") == 0 &&
		    strcmp(modes[m], "at-least-once") != 0)
			continue;
		for (i = n = 0; i < s->runs; i++)
			if ((strcmp(name, "W7") == 0 ?
			    many_run(s, modes[m], &rs[n]) :
			    work_run(s, name, modes[m], &rs[n])) == 0)
				n++;
		if (n < s->runs || report(s, rs, n) != 0)
			failed++;
	}
#ifdef HAVE_HIREDIS
	if (s->compare && with_redis(name) && system_on(s, "redis") &&
	    redis_available()) {
		for (i = n = 0; i < s->runs; i++)
			if (redis_run(s, name, 0, &rs[n]) == 0)
				n++;
		if (n < s->runs || report(s, rs, n) != 0)
			failed++;
	}
	if (s->compare && with_redis_reliable(name) &&
	    system_on(s, "redis-reliable") && redis_available()) {
		for (i = n = 0; i < s->runs; i++)
			if (redis_run(s, name, 1, &rs[n]) == 0)
				n++;
		if (n < s->runs || report(s, rs, n) != 0)
			failed++;
	}
#endif
	if (s->compare && with_beanstalkd(name) &&
	    system_on(s, "beanstalkd") && beanstalk_available()) {
		for (i = n = 0; i < s->runs; i++)
			if (beanstalk_run(s, name, &rs[n]) == 0)
				n++;
		if (n < s->runs || report(s, rs, n) != 0)
			failed++;
	}
	/* The floor each workload is judged by: it keeps no window. */
	if (!s->compare || s->fsync != NULL || w > 3 || !first ||
	    !system_on(s, "floor"))
		return failed;
	for (i = n = 0; i < s->runs; i++) {
		if ((w == 0 || w == 3 ? baseline_stream(s, name,
		    s->quick ? 20000 : 10000000, &rs[n]) :
		    w == 1 ? baseline_rr(s, s->quick ? 2000 : 200000, &rs[n]) :
		    baseline_relay(s, s->quick ? 0.2 : 5.0, &rs[n])) == 0)
			n++;
	}
	if (n < s->runs || report(s, rs, n) != 0)
		failed++;
	return failed;
}

int
main(int argc, char **argv)
{
	struct settings	 s;
	size_t		 w;
	int		 i, failed = 0;

	log_init("pushbench", PS_LOG_WARN);
	switch (settings_parse(&s, argc, argv)) {
	case 0:
		break;
	case 1:
		return 0;
	case PARSE_UNAVAILABLE:
		return 78;
	default:
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	work_headers(s.headers, s.nheaders);
	if (s.http) {
		fflush(stdout);
		return http_run(&s) == 0 ? 0 : 1;
	}
	if (!s.json)
		printf("%-10s %-18s %5s %9s %11s %23s %7s %6s %7s %9s  %-5s "
		    "%s\n", "workload", "mode", "depth", "events", "events/s",
		    "range", "cpu s", "sys s", "ns/ev", "peak KiB", "once", "");
	fflush(stdout);		/* before any fork, or children print it again */
	for (w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
		if (s.only != NULL && strcmp(s.only, workloads[w]) != 0)
			continue;
		/* W3 posts each event alone, never waiting: one depth. */
		for (i = 0; i < (w == 2 ? 1 : s.nwindows); i++) {
			s.window = s.windows[i];
			failed += workload_runs(&s, w, i == 0);
		}
	}
	if (failed != 0)
		log_errorx("%d measurement%s failed or lost events", failed,
		    failed == 1 ? "" : "s");
	return failed == 0 ? 0 : 1;
}
