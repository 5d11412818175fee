/*
 * http.c: what the dashboard costs (pushbench --http, docs/performance.md).
 * Three measurements: the daemon's CPU per API request with 1,000 queues
 * and 1,000 consumers; the CPU that 50 dashboards polling as the page does
 * (the overview every second, the history every tenth) take from the
 * daemon's one thread, the most they can take from dispatch; and W1's
 * throughput with those dashboards against W1 on the same daemon with
 * none, in the same run.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"
#include "pushstage.h"

#define QUEUES		1000
#define PER_QUEUE	10	/* events enqueued into each */
#define DEMAND		5	/* each consumer's: 5 in flight, 5 queued */
#define REQUESTS	200	/* of each path, timed */
#define DASHBOARDS	50
#define POLL_NS		1000000000ull
#define ALONE_S		20	/* the dashboards' CPU measured over */

/* The page's own requests (web/app.js). */
#define OVERVIEW	"/api/v1/queues?fields=queues,consumers_connected," \
			"uptime_seconds,queued,delayed,in_flight,dead," \
			"consumers,enqueue_rate,deliver_rate,ack_rate,paused," \
			"enqueued_total,acked_total"
#define HISTORY		"/api/v1/history"

/* A free loopback port, for --http. */
uint16_t
http_free_port(void)
{
	struct sockaddr_in	 sa;
	socklen_t		 len = sizeof sa;
	int			 fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		fatal("a free port");
	close(fd);
	return ntohs(sa.sin_port);
}

static int
http_connect(uint16_t port)
{
	struct sockaddr_in	 sa;
	int			 fd, on = 1;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		fatal("connect 127.0.0.1:%u", port);
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == -1)
		fatal("TCP_NODELAY");
	return fd;
}

/* A reply's bytes, read whole (headers and Content-Length's body). */
struct reply {
	char		*buf;
	size_t		 len;
	size_t		 cap;
};

/* GET path on the keep-alive connection fd; the status, body in r. */
static int
http_get(int fd, const char *path, struct reply *r, size_t *body)
{
	char		 req[512], *end, *cl;
	size_t		 head, want = 0;
	ssize_t		 n;
	int		 len, status;

	len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: "
	    "127.0.0.1\r\n\r\n", path);
	for (n = 0; n < len; ) {
		ssize_t	 w = write(fd, req + n, (size_t)(len - n));

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			fatal("write");
		n += w;
	}
	r->len = 0;
	for (;;) {
		if (r->cap - r->len < 65536) {
			r->cap = r->cap ? r->cap * 2 : 1 << 20;
			if ((r->buf = realloc(r->buf, r->cap + 1)) == NULL)
				fatal("realloc");
		}
		if ((n = read(fd, r->buf + r->len, r->cap - r->len)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			fatalx("GET %s: the daemon closed the connection", path);
		r->len += (size_t)n;
		r->buf[r->len] = '\0';
		if ((end = strstr(r->buf, "\r\n\r\n")) == NULL)
			continue;
		head = (size_t)(end - r->buf) + 4;
		if (want == 0) {
			if ((cl = strcasestr(r->buf, "\r\nContent-Length:")) ==
			    NULL || cl > end)
				fatalx("GET %s: no Content-Length", path);
			want = head + strtoull(cl + 17, NULL, 10);
		}
		if (r->len >= want)
			break;
	}
	if (sscanf(r->buf, "HTTP/1.1 %d", &status) != 1)
		fatalx("GET %s: not HTTP", path);
	*body = want - head;
	return status;
}

struct pollers {
	uint16_t	 port;
	int		 n;
};

/*
 * n dashboards, each its own keep-alive connection polling once a second
 * as web/app.js does, spread evenly over the second.
 */
static void
pollers_main(void *arg)
{
	struct pollers	*p = arg;
	struct reply	 r = { 0 };
	uint64_t	 next = clock_ns();
	size_t		 body;
	int		*fds, i, tick = 0;

	signal(SIGTERM, SIG_DFL);
	if ((fds = calloc((size_t)p->n, sizeof *fds)) == NULL)
		fatal("calloc");
	for (i = 0; i < p->n; i++)
		fds[i] = http_connect(p->port);
	for (;; tick++) {
		for (i = 0; i < p->n; i++) {
			/* The page reads the history once in ten polls. */
			if (tick % 10 == 0 &&
			    http_get(fds[i], HISTORY, &r, &body) != 200)
				fatalx("GET " HISTORY " failed");
			if (http_get(fds[i], OVERVIEW, &r, &body) != 200)
				fatalx("GET the overview failed");
			next += POLL_NS / (uint64_t)p->n;
			while (clock_ns() < next)
				usleep((useconds_t)((next - clock_ns()) / 1000 +
				    1));
		}
	}
}

pid_t
http_dashboards(uint16_t port, int n)
{
	static struct pollers	 p;

	p.port = port;
	p.n = n;
	return spawn(pollers_main, &p);
}

static int
by_rate_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
by_ns(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The CPU seconds of the daemon's main thread, the one that dispatches,
 * to the nanosecond (/proc's schedstat; its stat counts 10 ms ticks).
 */
static double
thread_cpu(const struct daemon *d)
{
	char			 path[64];
	unsigned long long	 ns = 0;
	FILE			*f;

	snprintf(path, sizeof path, "/proc/%ld/schedstat", (long)d->pid);
	if ((f = fopen(path, "r")) == NULL)
		fatal("%s", path);
	if (fscanf(f, "%llu", &ns) != 1)
		fatalx("%s: not a number of nanoseconds", path);
	fclose(f);
	return (double)ns / 1e9;
}

/*
 * The daemon's time for each path with QUEUES queues and as many
 * consumers: its main thread's CPU over REQUESTS requests, and each one's
 * round trip.
 */
static int
overview_cost(const struct settings *s)
{
	static const char * const paths[] = {
		OVERVIEW, "/api/v1/queues", "/api/v1/consumers", HISTORY,
		"/api/v1/queues/q0000", "/metrics",
	};
	struct settings		 hs = *s;
	struct daemon		 d;
	struct pushstage	*c, **cons;
	struct pushstage_enqueued e;
	struct reply		 r = { 0 };
	struct rlimit		 rl;
	uint64_t		 ns[REQUESTS], t;
	double			 cpu0, cpu1;
	size_t			 body = 0, i;
	char			 name[32], ev[64];
	int			 fd, k, status, nq = s->quick ? 50 : QUEUES;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	hs.http_port = http_free_port();
	if (daemon_start(&hs, "at-least-once", &d) != 0)
		return -1;
	if ((c = client_open(d.path)) == NULL ||
	    (cons = calloc((size_t)nq, sizeof *cons)) == NULL)
		fatalx("cannot set up");
	memset(ev, 'x', sizeof ev);
	for (k = 0; k < nq; k++) {
		snprintf(name, sizeof name, "q%04d", k);
		if (pushstage_queue(c, name) != 0)
			fatalx("%s", pushstage_error(c));
		for (i = 0; i < PER_QUEUE; i++)
			if (pushstage_add(c, ev, sizeof ev) != 0)
				fatalx("%s", pushstage_error(c));
		if (pushstage_send(c, &e) != 0)
			fatalx("%s", pushstage_error(c));
		if ((cons[k] = pushstage_new()) == NULL ||
		    pushstage_queue(cons[k], name) != 0 ||
		    pushstage_connect_consumer(cons[k], d.path, name, DEMAND,
		    0) != 0 || pushstage_demand(cons[k], DEMAND) != 0 ||
		    pushstage_flush(cons[k]) != 0)
			fatalx("consumer %d: %s", k, pushstage_error(cons[k]));
	}
	fd = http_connect(hs.http_port);
	/* Until every consumer has its events in flight. */
	snprintf(name, sizeof name, "{\"in_flight\":%d}", nq * DEMAND);
	for (k = 0; k < 2000; k++) {
		if (http_get(fd, "/api/v1/queues?fields=in_flight", &r,
		    &body) == 200 && strstr(r.buf, name) != NULL)
			break;
		usleep(5000);
	}
	if (k == 2000)
		fatalx("the consumers did not take their events");
	if (!s->json)
		printf("\nThe API with %d queues and %d consumers (%d "
		    "requests each, one keep-alive connection):\n%-44s %9s "
		    "%10s %10s %10s\n", nq, nq, REQUESTS, "GET", "bytes",
		    "daemon ms", "p50 ms", "p99 ms");
	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		for (k = 0; k < 5; k++)
			(void)http_get(fd, paths[i], &r, &body);
		cpu0 = thread_cpu(&d);
		for (k = 0; k < REQUESTS; k++) {
			t = clock_ns();
			if ((status = http_get(fd, paths[i], &r, &body)) != 200)
				fatalx("GET %s: %d", paths[i], status);
			ns[k] = clock_ns() - t;
		}
		cpu1 = thread_cpu(&d);
		qsort(ns, REQUESTS, sizeof ns[0], by_ns);
		if (s->json)
			printf("{\"http\":\"%s\",\"queues\":%d,\"consumers\":%d,"
			    "\"bytes\":%zu,\"daemon_ms\":%.3f,\"p50_ms\":%.3f,"
			    "\"p99_ms\":%.3f}\n", paths[i], nq, nq, body,
			    (cpu1 - cpu0) * 1e3 / REQUESTS, ns[REQUESTS / 2] /
			    1e6, ns[REQUESTS * 99 / 100] / 1e6);
		else
			printf("%-44.44s %9zu %10.3f %10.3f %10.3f\n",
			    strncmp(paths[i], OVERVIEW, 22) == 0 &&
			    strlen(paths[i]) > 40 ? "/api/v1/queues?fields=(the "
			    "page's 14)" : paths[i], body, (cpu1 - cpu0) * 1e3 /
			    REQUESTS, ns[REQUESTS / 2] / 1e6,
			    ns[REQUESTS * 99 / 100] / 1e6);
	}
	close(fd);
	free(r.buf);
	for (k = 0; k < nq; k++)
		pushstage_free(cons[k]);
	free(cons);
	pushstage_free(c);
	daemon_stop(&d);
	return 0;
}

/*
 * The daemon's CPU a second while DASHBOARDS poll it and nothing else
 * happens, with W1's queue in it: the share of its one thread, the one
 * that dispatches, that they take.  W1 itself is too short (a third of a
 * second) and too noisy here to show a cost this small by its rate.
 */
static int
dashboards_alone(const struct settings *s)
{
	struct settings		 hs = *s;
	struct daemon		 d;
	struct pushstage	*c;
	struct pushstage_enqueued e;
	uint64_t		 t0, t1, t2, t3;
	double			 cpu0, cpu1, idle0, idle1, secs, idle;
	pid_t			 pollers;
	int			 n = s->quick ? 2 : DASHBOARDS, alive;
	unsigned int		 wait = s->quick ? 1 : ALONE_S;

	hs.http_port = http_free_port();
	if (daemon_start(&hs, "at-least-once", &d) != 0)
		return -1;
	if ((c = client_open(d.path)) == NULL ||
	    pushstage_add(c, "x", 1) != 0 || pushstage_send(c, &e) != 0)
		fatalx("cannot set up");
	/* The daemon alone first: what it spends with nobody asking. */
	sleep(1);
	idle0 = thread_cpu(&d);
	t0 = clock_ns();
	sleep(wait);
	idle1 = thread_cpu(&d);
	t1 = clock_ns();
	pollers = http_dashboards(hs.http_port, n);
	sleep(2);		/* all connected, and polling */
	cpu0 = thread_cpu(&d);
	t2 = clock_ns();
	sleep(wait);
	cpu1 = thread_cpu(&d);
	t3 = clock_ns();
	/* A poller that failed has said so; what it measured is not theirs. */
	alive = waitpid(pollers, NULL, WNOHANG) == 0;
	if (!alive)
		pollers = 0;
	reap(&pollers, 1);
	pushstage_free(c);
	daemon_stop(&d);
	if (!alive)
		return -1;
	/* CPU seconds a second, less what it spends idle. */
	idle = (idle1 - idle0) * 1e9 / (double)(t1 - t0);
	secs = (cpu1 - cpu0) * 1e9 / (double)(t3 - t2) - idle;
	if (s->json)
		printf("{\"http\":\"dashboards alone\",\"dashboards\":%d,"
		    "\"seconds\":%u,\"daemon_ms_per_s\":%.3f,"
		    "\"idle_ms_per_s\":%.3f}\n", n, wait, secs * 1e3,
		    idle * 1e3);
	else
		printf("\n%d dashboards polling a daemon with W1's queue, over "
		    "%u s: %.2f ms of daemon CPU a second (%.2f %% of its "
		    "one thread; idle it spends %.2f ms)\n", n, wait,
		    secs * 1e3, secs * 100, idle * 1e3);
	return 0;
}

/*
 * W1 at least once, --runs times each way in turn, on a daemon with
 * --http: with no dashboard open, and with DASHBOARDS polling.
 */
static int
w1_with_dashboards(const struct settings *s)
{
	struct settings	 hs = *s;
	struct result	 r;
	double		 with[16], without[16];
	int		 i, runs = s->runs > 16 ? 16 : s->runs, ok = 1;

	for (i = 0; i < runs; i++) {
		hs.http_port = http_free_port();
		hs.dashboards = 0;
		if (work_run(&hs, "W1", "at-least-once", &r) != 0)
			return -1;
		without[i] = r.rate;
		ok &= r.exact;
		hs.http_port = http_free_port();
		hs.dashboards = s->quick ? 2 : DASHBOARDS;
		if (work_run(&hs, "W1", "at-least-once", &r) != 0)
			return -1;
		with[i] = r.rate;
		ok &= r.exact;
	}
	qsort(with, (size_t)runs, sizeof with[0], by_rate_double);
	qsort(without, (size_t)runs, sizeof without[0], by_rate_double);
	if (s->json)
		printf("{\"http\":\"W1 with dashboards\",\"dashboards\":%d,"
		    "\"runs\":%d,\"events_per_s_without\":%.0f,"
		    "\"events_per_s_with\":%.0f,\"exactly_once\":%s}\n",
		    hs.dashboards, runs, without[runs / 2], with[runs / 2],
		    ok ? "true" : "false");
	else
		printf("\nW1 at least once on a daemon with --http, %d runs "
		    "each, in turn (median, min-max):\n  no dashboard:  "
		    "%10.0f events/s (%.0f-%.0f)\n  %2d dashboards: %10.0f "
		    "events/s (%.0f-%.0f)  %+.1f %%  each event exactly "
		    "once: %s\n", runs, without[runs / 2], without[0],
		    without[runs - 1], hs.dashboards, with[runs / 2], with[0],
		    with[runs - 1], (with[runs / 2] / without[runs / 2] - 1) *
		    100, ok ? "yes" : "NO");
	return ok ? 0 : -1;
}

int
http_run(const struct settings *s)
{
	if (overview_cost(s) != 0 || dashboards_alone(s) != 0)
		return -1;
	return w1_with_dashboards(s);
}
