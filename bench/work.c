/*
 * work.c: the workloads on pushstage.  Each run starts a private producerd
 * (unless --socket names one), consumer processes built on the client
 * module, and enqueues from this process; the board says when the last
 * event arrived and whether each came exactly once.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"
#include "net.h"
#include "procstat.h"
#include "pushstage.h"

#define MAX_CONSUMERS	64

struct consumer_args {
	const char	*sock;
	uint32_t	 max;
	uint32_t	 min;
	struct board	*b;
	int		 idx;
	char		 queue[64];	/* W5: its group; else "" */
	uint32_t	 group;		/* W5: which copy it gets */
	uint32_t	 groups;
};

#define W5_GROUPS	4
#define W6_KEYS		10000
#define W8_FIRST_MS	2000	/* W8: delays from this ... */
#define W8_SPREAD_MS	10000	/* ... over this long */

int
daemon_start(const struct settings *s, const char *mode, struct daemon *d)
{
	struct pushstage	*p;
	uint64_t		 end;
	int			 got;

	memset(d, 0, sizeof *d);
	if (s->socket != NULL) {
		d->path = s->socket;
		return 0;
	}
	snprintf(d->dir, sizeof d->dir, "/tmp/pushbench.XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		fatal("mkdtemp");
	snprintf(d->sock, sizeof d->sock, "%s/ps.sock", d->dir);
	snprintf(d->data, sizeof d->data, "%s/data", d->dir);
	d->path = d->sock;
	if ((d->pid = fork()) == -1)
		fatal("fork");
	if (d->pid == 0) {
		if (s->cluster_urls != NULL) {
			char	 r[8];

			snprintf(r, sizeof r, "%d", s->cluster);
			/* A cluster takes no buffer limits: JetStream's. */
			execl(s->producerd, "producerd", "--socket", d->sock,
			    "--log-level", "error",
			    "--delivery", mode, "--cluster", s->cluster_urls,
			    "--cluster-replicas", r, (char *)NULL);
		} else if (s->http_port != 0) {
			char	 a[32];

			snprintf(a, sizeof a, "127.0.0.1:%u", s->http_port);
			execl(s->producerd, "producerd", "--socket", d->sock,
			    "--log-level", "error", "--max-queue", "0",
			    "--delivery", mode, "--http", a,
			    "--http-max-connections", "256", (char *)NULL);
		} else if (s->fsync != NULL)
			execl(s->producerd, "producerd", "--socket", d->sock,
			    "--log-level", "error", "--max-queue", "0",
			    "--delivery", mode, "--data-dir", d->data,
			    "--fsync", s->fsync, (char *)NULL);
		else
			execl(s->producerd, "producerd", "--socket", d->sock,
			    "--log-level", "error", "--max-queue", "0",
			    "--delivery", mode, (char *)NULL);
		fatal("exec %s", s->producerd);
	}
	/*
	 * Until it answers a HELLO (WELCOME, or a refusal: its loop runs).
	 * Its socket takes connections from listen(), before its --http port
	 * listens; up to 30 s, as a loaded machine is slow to run a new
	 * process, and no longer once it has exited.
	 */
	end = clock_ns() + 30 * UINT64_C(1000000000);
	do {
		if ((p = pushstage_new()) == NULL)
			fatalx("no memory");
		got = pushstage_connect(p, d->sock, "pushbench");
		pushstage_free(p);
		if (got == PUSHSTAGE_OK || got == PUSHSTAGE_EPROTO ||
		    got == PUSHSTAGE_EAGAIN)
			return 0;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			d->pid = 0;
			log_errorx("producerd (%s) exited at start",
			    s->producerd);
			return -1;
		}
		usleep(10000);
	} while (clock_ns() < end);
	log_errorx("producerd (%s) did not answer in 30 s", s->producerd);
	return -1;
}

void
daemon_stop(struct daemon *d)
{
	int	 i;

	if (d->pid > 0) {
		/* Twice: the first drains, the second ends it at once. */
		kill(d->pid, SIGTERM);
		for (i = 0; i < 50 && waitpid(d->pid, NULL, WNOHANG) == 0; i++) {
			if (i == 5)
				kill(d->pid, SIGTERM);
			usleep(20000);
		}
		if (i == 50) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		}
	}
	if (d->dir[0] != '\0')
		rmtree(d->dir);
}

/*
 * A server's CPU ticks and minor faults so far; zeros for no process (a
 * --socket daemon) or one that has gone.
 */
void
usage_read(pid_t pid, struct usage *u)
{
	struct procstat	 ps;
	char		 path[64], buf[1024];
	FILE		*f;

	memset(u, 0, sizeof *u);
	if (pid <= 0)
		return;
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof buf, f) != NULL &&
	    procstat_parse(buf, &ps) == 0) {
		u->ticks_user = ps.utime;
		u->ticks_sys = ps.stime;
		u->faults = ps.minflt;
	}
	fclose(f);
}

/*
 * What a server spent from u0 to u1, into r.  Ticks, not seconds, are
 * subtracted, so user plus system is exactly the CPU figure, whose
 * resolution is a tick (10 ms at USER_HZ 100).
 */
void
usage_span(struct result *r, const struct usage *u0, const struct usage *u1)
{
	double	 hz = (double)sysconf(_SC_CLK_TCK);

	/* A server that went reads as zeros: no figure, not a negative one. */
	if (u1->ticks_user < u0->ticks_user || u1->ticks_sys < u0->ticks_sys ||
	    u1->faults < u0->faults)
		return;
	r->cpu_user = (double)(u1->ticks_user - u0->ticks_user) / hz;
	r->cpu_sys = (double)(u1->ticks_sys - u0->ticks_sys) / hz;
	r->cpu = (double)(u1->ticks_user - u0->ticks_user + u1->ticks_sys -
	    u0->ticks_sys) / hz;
	r->faults = u1->faults - u0->faults;
}

/* The daemon's CPU and faults so far, and its resident and peak memory. */
void
daemon_usage(const struct daemon *d, struct usage *u, uint64_t *rss_kb,
    uint64_t *hwm_kb)
{
	char			 path[64], buf[1024];
	unsigned long long	 ut;
	FILE			*f;

	usage_read(d->pid, u);
	*rss_kb = *hwm_kb = 0;
	if (d->pid <= 0)
		return;
	snprintf(path, sizeof path, "/proc/%ld/status", (long)d->pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(buf, sizeof buf, f) != NULL) {
			if (sscanf(buf, "VmRSS: %llu", &ut) == 1)
				*rss_kb = ut;
			else if (sscanf(buf, "VmHWM: %llu", &ut) == 1)
				*hwm_kb = ut;
		}
		fclose(f);
	}
}

/*
 * A consumer process, on the public API as a user's would be: one read
 * per wake-up, every event marked on the board, and one write with its
 * ACK and the DEMAND that GenStage's window asks for.
 */
static void
consumer_main(void *arg)
{
	struct consumer_args	*a = arg;
	struct pushstage_event	 e;
	struct pushstage	*p;
	struct tally		 t = { 0 };
	uint64_t		*ids;
	uint32_t		 n, ask;
	char			 name[32];
	int			 acks, r;

	signal(SIGTERM, SIG_DFL);
	snprintf(name, sizeof name, "bench-%d", a->idx);
	if ((p = pushstage_new()) == NULL)
		fatal("pushstage_new");
	if ((a->queue[0] != '\0' && pushstage_queue(p, a->queue) != 0) ||
	    pushstage_connect_consumer(p, a->sock, name, a->max, a->min) != 0)
		fatalx("consumer %d: %s", a->idx, pushstage_error(p));
	if ((ids = calloc(a->max, sizeof *ids)) == NULL)
		fatal("calloc");
	acks = pushstage_acks(p);
	if (pushstage_demand(p, a->max) != 0 || pushstage_flush(p) != 0)
		fatalx("consumer %d: %s", a->idx, pushstage_error(p));
	for (;;) {
		if (pushstage_read(p) != 0)
			_exit(0);	/* the daemon went: the run is over */
		n = ask = 0;
		while ((r = pushstage_poll_event(p, &e)) == 1) {
			board_mark_copy(a->b, e.data, e.len, a->group,
			    a->groups, &t);
			if (acks) {
				ids[n++] = e.id;
				if (n == a->max) {
					(void)pushstage_ack(p, ids, n);
					n = 0;
				}
			}
			ask += pushstage_done(p);
		}
		if (r < 0)
			fatalx("consumer %d: %s", a->idx, pushstage_error(p));
		board_commit(a->b, &t);
		if ((n != 0 && pushstage_ack(p, ids, n) != 0) ||
		    (ask != 0 && pushstage_demand(p, ask) != 0) ||
		    pushstage_flush(p) != 0)
			_exit(0);
	}
}

struct pushstage *
client_open(const char *sock)
{
	struct pushstage	*p;

	if ((p = pushstage_new()) == NULL)
		fatal("pushstage_new");
	if (pushstage_connect(p, sock, "pushbench") != 0) {
		log_errorx("%s", pushstage_error(p));
		pushstage_free(p);
		return NULL;
	}
	return p;
}

/* Until n consumers are connected and have asked for their demand. */
static int
wait_consumers(struct pushstage *p, uint64_t n, uint64_t demand)
{
	const struct pushstage_stats	*st;
	uint64_t			 have, asked, v;
	size_t				 i;
	uint64_t			 end;

	/* Up to 60 s: a loaded machine can be slow to run 64 processes. */
	end = clock_ns() + 60 * UINT64_C(1000000000);
	do {
		if (pushstage_stats(p, &st) != 0) {
			log_errorx("%s", pushstage_error(p));
			return -1;
		}
		have = asked = 0;
		(void)pushstage_stat(st->counters, st->ncounters,
		    "consumers_connected", &have);
		for (i = 0; i < st->nconsumers; i++)
			if (pushstage_stat(st->consumers[i].fields,
			    st->consumers[i].nfields, "demand", &v) == 0)
				asked += v;
		if (have >= n && asked >= demand)
			return 0;
		usleep(5000);
	} while (clock_ns() < end);
	log_errorx("the consumers did not connect");
	return -1;
}

/* Every answer: nothing may be refused or shed (the daemon has no limit). */
static void
on_answer(void *arg, uint64_t seq, const struct pushstage_enqueued *r)
{
	int	*refused = arg;

	(void)seq;
	if (r->refused != 0 || r->shed_new != 0)
		*refused = 1;
}

/* --header NAME=VALUE: every event pushstage's client enqueues has them. */
static const char	*headers[PUSHSTAGE_HEADERS_MAX];
static int		 nheaders;

void
work_headers(const char *const *h, int n)
{
	int	 i;

	for (i = 0; i < n && i < PUSHSTAGE_HEADERS_MAX; i++)
		headers[i] = h[i];
	nheaders = i;
}

/* The --headers for the next event added. */
static int
give_headers(struct pushstage *p)
{
	const char	*eq;
	char		 name[PUSHSTAGE_HEADER_NAME_MAX + 1];
	int		 i, error;

	for (i = 0; i < nheaders; i++) {
		eq = strchr(headers[i], '=');
		snprintf(name, sizeof name, "%.*s", (int)(eq - headers[i]),
		    headers[i]);
		if ((error = pushstage_header(p, name, eq + 1,
		    strlen(eq + 1))) != 0)
			return error;
	}
	return 0;
}

/*
 * One event, with a key unless key is NULL, and (W8) not before delay ms
 * from now unless 0; with the --headers.
 */
static int
add(struct pushstage *p, const char *key, size_t klen, uint32_t delay,
    const void *data, size_t len)
{
	struct pushstage_attrs	 a = PUSHSTAGE_ATTRS_INIT;
	int			 error;

	if (nheaders != 0) {
		pushstage_headers_clear(p);	/* a retry gives them again */
		if ((error = give_headers(p)) != 0)
			return error;
	}

	if (delay != 0) {
		a.delay_ms = delay;
		return pushstage_add_with(p, &a, data, len);
	}
	if (key != NULL)
		return pushstage_add_key(p, key, klen, data, len);
	return pushstage_add(p, data, len);
}

/* W8's delay for event seq: W8_FIRST_MS plus a hash of seq, spread. */
static uint32_t
w8_delay(uint64_t seq)
{
	seq = (seq + 1) * 0x9e3779b97f4a7c15ull;
	seq ^= seq >> 29;
	return W8_FIRST_MS + (uint32_t)(seq % W8_SPREAD_MS);
}

/*
 * Enqueue events first..first+n-1 in batches of `batch`, `window` of
 * them in flight, each with one of `keys` keys unless 0, and (delayed)
 * with W8's delays, stamped with the time each is due; 0, or -1 said.
 */
static int
enqueue_n(struct pushstage *p, uint64_t first, uint64_t n, size_t size,
    uint32_t batch, uint32_t window, uint32_t keys, int delayed)
{
	char		 key[16];
	size_t		 klen = 0;
	uint8_t		*buf;
	uint64_t	 seq, t = 0;
	uint32_t	 delay = 0;
	int		 error = 0, refused = 0;

	if ((buf = calloc(1, size)) == NULL)
		fatal("calloc");
	if (pushstage_pipeline(p, window, on_answer, &refused) != 0)
		fatalx("%s", pushstage_error(p));
	for (seq = first; seq < first + n && error == 0; seq++) {
		if (pushstage_batch_count(p) == 0 || delayed)
			t = clock_ns();
		if (delayed)
			delay = w8_delay(seq);
		stamp(buf, seq, t + (uint64_t)delay * 1000000);
		if (keys != 0)
			klen = (size_t)snprintf(key, sizeof key, "k%05u",
			    (unsigned)(seq % keys));
		/* A batch ends at `batch` events or at the frame limit. */
		if ((error = add(p, keys ? key : NULL, klen, delay, buf,
		    size)) == PUSHSTAGE_ETOOBIG &&
		    pushstage_batch_count(p) != 0 &&
		    (error = pushstage_post(p, NULL)) == 0)
			error = add(p, keys ? key : NULL, klen, delay, buf,
			    size);
		if (error == 0 && pushstage_batch_count(p) == batch)
			error = pushstage_post(p, NULL);
	}
	if (error == 0 && pushstage_batch_count(p) != 0)
		error = pushstage_post(p, NULL);
	if (error == 0)
		error = pushstage_wait(p);
	if (error != 0)
		log_errorx("%s", pushstage_error(p));
	else if (refused) {
		log_errorx("producerd refused events");
		error = -1;
	}
	free(buf);
	return error == 0 ? 0 : -1;
}

static void
sleep_until(uint64_t ns)
{
	struct timespec	 ts = { (time_t)(ns / 1000000000u),
	    (long)(ns % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		continue;
}

/*
 * W3: one event every 100 µs, each its own ENQUEUE, posted without
 * waiting for its answer (answers are taken when they have come), so the
 * producer keeps its rate.  The payload carries the time it was due; the
 * board keeps the time it really went, for both latencies.
 */
static int
paced(struct pushstage *p, struct board *b, uint64_t n, size_t size)
{
	struct pollfd	 pfd;
	uint8_t		*buf;
	uint64_t	 seq, due = clock_ns();
	int		 error = 0, refused = 0;

	if ((buf = calloc(1, size)) == NULL)
		fatal("calloc");
	if (pushstage_pipeline(p, PUSHSTAGE_WINDOW_MAX, on_answer,
	    &refused) != 0)
		fatalx("%s", pushstage_error(p));
	pfd.fd = pushstage_fd(p);
	pfd.events = POLLIN;
	for (seq = 0; seq < n && error == 0; seq++) {
		sleep_until(due);
		stamp(buf, seq, due);
		board_sent(b, seq, clock_ns());
		if ((error = pushstage_add(p, buf, size)) == 0 &&
		    (error = pushstage_post(p, NULL)) == 0 &&
		    (error = pushstage_answers(p)) >= 0)
			error = 0;
		/* Answers that have come: taken without waiting. */
		while (error == 0 && poll(&pfd, 1, 0) == 1 &&
		    (error = pushstage_read(p)) == 0 &&
		    (error = pushstage_answers(p)) >= 0)
			error = 0;
		due += 100000;
	}
	if (error == 0)
		error = pushstage_wait(p);
	if (error != 0)
		log_errorx("%s", pushstage_error(p));
	free(buf);
	return error != 0 || refused ? -1 : 0;
}

static void
start_consumers(struct consumer_args *a, pid_t *pids, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		a[i].idx = i;
		pids[i] = spawn(consumer_main, &a[i]);
	}
}

/* W5: each group made before anything is enqueued (a consumer that goes). */
static int
groups_make(const char *sock, const struct consumer_args *a, int n)
{
	struct pushstage	*p;
	int			 i;

	for (i = 0; i < n; i += 2) {
		if ((p = pushstage_new()) == NULL)
			fatal("pushstage_new");
		if (pushstage_queue(p, a[i].queue) != 0 ||
		    pushstage_connect_consumer(p, sock, "w5", 1, 0) != 0) {
			log_errorx("%s", pushstage_error(p));
			pushstage_free(p);
			return -1;
		}
		pushstage_free(p);
	}
	return 0;
}

int
work_run(const struct settings *s, const char *workload, const char *mode,
    struct result *r)
{
	struct consumer_args	 a[MAX_CONSUMERS];
	pid_t			 pids[MAX_CONSUMERS] = { 0 };
	struct daemon		 d;
	struct board		*b;
	struct pushstage	*c = NULL;
	uint64_t		 total, t0, t1 = 0, rss0, rss1, hwm;
	uint32_t		 max = s->batch, min = s->batch / 2, copies = 1;
	int			 n = s->consumers, error = -1, w4 = 0, w5 = 0;
	int			 w6 = 0, w8 = 0;
	pid_t			 dashboards = 0;
	struct usage		 u0, u1;

	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	snprintf(r->mode, sizeof r->mode, "%s%s%s", mode,
	    s->fsync ? " " : "", s->fsync ? s->fsync : "");
	total = workload_events(s, workload);
	if (strcmp(workload, "W2") == 0) {
		max = 1;
		min = 0;
	} else if (strcmp(workload, "W3") == 0) {
		n = 1;
		max = 1;
		min = 0;
	} else if (strcmp(workload, "W4") == 0)
		w4 = 1;
	else if (strcmp(workload, "W6") == 0)
		w4 = w6 = 1;		/* key order: a backlog, then drained */
	else if (strcmp(workload, "W8") == 0)
		w8 = 1;
	else if (strcmp(workload, "W5") == 0) {
		/* Fan-out: 4 groups of 2 consumers; a backlog, then drained. */
		w4 = w5 = 1;
		copies = W5_GROUPS;
		n = 2 * W5_GROUPS;
	}
	if (n > MAX_CONSUMERS)
		n = MAX_CONSUMERS;
	r->events = total;
	r->depth = s->window;
	r->batch = s->batch;
	r->acks = strcmp(mode, "at-least-once") == 0;
	if (strcmp(workload, "W3") == 0) {
		r->depth = PUSHSTAGE_WINDOW_MAX;	/* never waits */
		r->batch = 1;
	}
	b = board_new(total * copies, strcmp(workload, "W3") == 0 || w8);
	if (daemon_start(s, mode, &d) != 0)
		goto out;
	if ((c = client_open(d.path)) == NULL)
		goto out;
	if (s->dashboards != 0)
		dashboards = http_dashboards(s->http_port, s->dashboards);
	for (int i = 0; i < n; i++) {
		a[i].sock = d.path;
		a[i].max = max;
		a[i].min = min;
		a[i].b = b;
		a[i].group = w5 ? (uint32_t)i / 2 : 0;
		a[i].groups = copies;
		a[i].queue[0] = '\0';
		if (w5)
			snprintf(a[i].queue, sizeof a[i].queue, "w5/g%d", i / 2);
		if (w6)
			snprintf(a[i].queue, sizeof a[i].queue, "w6");
	}
	if (w6) {
		static const char * const key[] = { "dispatch=key" };

		if (pushstage_queue_create(c, "w6", key, 1) != 0 ||
		    pushstage_queue(c, "w6") != 0) {
			log_errorx("%s", pushstage_error(c));
			goto close;
		}
	}
	/* W5's four groups, and no shared one to hold a fifth copy. */
	if (w5 && (groups_make(d.path, a, n) != 0 ||
	    pushstage_queue(c, "w5") != 0 ||
	    pushstage_group_drop(c, "w5", "", 0) != 0)) {
		log_errorx("%s", pushstage_error(c));
		goto close;
	}

	if (w4) {
		/* The backlog: enqueue with nobody to take, then drain. */
		daemon_usage(&d, &u0, &rss0, &hwm);
		t0 = clock_ns();
		if (enqueue_n(c, 0, total, s->size, s->batch, s->window,
		    w6 ? W6_KEYS : 0, 0) != 0)
			goto close;
		t1 = clock_ns();
		r->enq_rate = (double)total * 1e9 / (double)(t1 - t0);
		daemon_usage(&d, &u1, &rss1, &hwm);
		/* W5: every group holds each event; its payload is there once. */
		r->per_event = ((double)rss1 - (double)rss0) * 1024.0 /
		    (double)total - (double)s->size;
		start_consumers(a, pids, n);
		t0 = clock_ns();
	} else if (w8) {
		/*
		 * Delayed: consumers wait; the events go in, each due 2 to
		 * 12 s later (their memory measured while none is due),
		 * and come out at their times.
		 */
		start_consumers(a, pids, n);
		if (wait_consumers(c, (uint64_t)n, (uint64_t)n * max) != 0)
			goto close;
		daemon_usage(&d, &u0, &rss0, &hwm);
		t0 = clock_ns();
		if (enqueue_n(c, 0, total, s->size, s->batch, s->window, 0,
		    1) != 0)
			goto close;
		t1 = clock_ns();
		r->enq_rate = (double)total * 1e9 / (double)(t1 - t0);
		daemon_usage(&d, &u1, &rss1, &hwm);
		r->per_event = ((double)rss1 - (double)rss0) * 1024.0 /
		    (double)total - (double)s->size;
		if ((t1 - t0) / 1000000 >= W8_FIRST_MS)
			log_warnx("W8: enqueueing took %llu ms: some events "
			    "were due before memory was measured",
			    (unsigned long long)((t1 - t0) / 1000000));
		t0 += (uint64_t)W8_FIRST_MS * 1000000;	/* the first due */
	} else {
		start_consumers(a, pids, n);
		if (wait_consumers(c, (uint64_t)n, (uint64_t)n * max) != 0)
			goto close;
#ifdef HAVE_NATS
		/* --cluster: the queue's stream is made, its pull waits. */
		if (s->cluster_urls != NULL && jetstream_wait_pull(
		    s->cluster_urls, "PS_default", "ps") != 0)
			goto close;
#endif
		/* The CPU it spends from here: not its start or the waiting. */
		usage_read(d.pid, &u0);
		t0 = clock_ns();
		if ((strcmp(workload, "W3") == 0 ? paced(c, b, total, s->size) :
		    enqueue_n(c, 0, total, s->size, s->batch, s->window, 0,
		    0)) != 0)
			goto close;
	}
	if (board_wait(b, WAIT_MS(s), pids, n) != 0) {
		log_errorx("%s %s: %llu of %llu events arrived", workload, mode,
		    (unsigned long long)atomic_load(&b->received),
		    (unsigned long long)(total * copies));
		goto close;
	}
	/* W5: the rate of deliveries, every group's. */
	r->rate = (double)(total * copies) * 1e9 /
	    (double)(atomic_load(&b->last_ns) - t0);
	daemon_usage(&d, &u1, &rss1, &r->rss_peak_kb);
	usage_span(r, &u0, &u1);
	r->exact = board_exact(b);
	if (b->latency) {
		board_latency(b, r->lat, r->lat_sent);
		r->has_lat = 1;
	}
	error = 0;
close:
	pushstage_free(c);
out:
	reap(pids, n);
	reap(&dashboards, 1);
	daemon_stop(&d);
	board_free(b);
	return error;
}
