/*
 * many.c: W7, many queues.  One client makes the queues empty (the
 * daemon's memory per empty queue), puts one event in each (its memory
 * per queue holding one), and consumer processes drain them, each
 * subscribing to its share of the queues one after another (the rate).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"
#include "pushstage.h"

#define MANY_QUEUES	10000
#define MANY_CONSUMERS	4

struct drain_args {
	const char	*sock;
	struct board	*b;
	uint64_t	 nqueues;
	int		 idx;
	int		 n;
	int		 acks;
};

static void
queue_name(char *buf, size_t len, uint64_t i)
{
	snprintf(buf, len, "w7.%llu", (unsigned long long)i);
}

/* One consumer's share: each queue in turn, one event, acked. */
static void
drain_main(void *arg)
{
	struct drain_args	*a = arg;
	struct pushstage_event	 e;
	struct pushstage	*p;
	struct tally		 t = { 0 };
	char			 name[32];
	uint64_t		 i;

	for (i = (uint64_t)a->idx; i < a->nqueues; i += (uint64_t)a->n) {
		queue_name(name, sizeof name, i);
		if ((p = pushstage_new()) == NULL)
			fatal("pushstage_new");
		if (pushstage_queue(p, name) != 0 ||
		    pushstage_connect_consumer(p, a->sock, "w7", 1, 0) != 0 ||
		    pushstage_demand(p, 1) != 0 || pushstage_flush(p) != 0 ||
		    pushstage_next_event(p, &e) != 0)
			fatalx("drain %s: %s", name, pushstage_error(p));
		board_mark(a->b, e.data, e.len, &t);
		board_commit(a->b, &t);
		if (pushstage_acks(p) && (pushstage_ack(p, &e.id, 1) != 0 ||
		    pushstage_flush(p) != 0))
			fatalx("drain %s: %s", name, pushstage_error(p));
		pushstage_free(p);
	}
}

/* One event into each queue, one batch each, pipelined. */
static int
fill(struct pushstage *c, uint64_t nqueues, size_t size, uint32_t window)
{
	uint8_t		*buf;
	char		 name[32];
	uint64_t	 i;
	int		 error = 0;

	if ((buf = calloc(1, size)) == NULL)
		fatal("calloc");
	if (pushstage_pipeline(c, window, NULL, NULL) != 0)
		fatalx("%s", pushstage_error(c));
	for (i = 0; i < nqueues && error == 0; i++) {
		queue_name(name, sizeof name, i);
		stamp(buf, i, clock_ns());
		if ((error = pushstage_queue(c, name)) == 0 &&
		    (error = pushstage_add(c, buf, size)) == 0)
			error = pushstage_post(c, NULL);
	}
	if (error == 0)
		error = pushstage_wait(c);
	if (error != 0)
		log_errorx("%s", pushstage_error(c));
	free(buf);
	return error == 0 ? 0 : -1;
}

int
many_run(const struct settings *s, const char *mode, struct result *r)
{
	struct drain_args	 a[MANY_CONSUMERS];
	pid_t			 pids[MANY_CONSUMERS] = { 0 };
	struct daemon		 d;
	struct board		*b;
	struct pushstage	*c = NULL;
	uint64_t		 n, i, t0, t1, rss0, rss1, rss2, hwm;
	char			 name[32];
	struct usage		 u0, u;
	int			 k, error = -1;

	n = s->events != 0 ? s->events : s->quick ? 1000 : MANY_QUEUES;
	memset(r, 0, sizeof *r);
	snprintf(r->workload, sizeof r->workload, "W7");
	snprintf(r->mode, sizeof r->mode, "%s", mode);
	r->events = n;
	r->depth = s->window;
	r->batch = 1;
	r->acks = strcmp(mode, "at-least-once") == 0;
	b = board_new(n, 0);
	if (daemon_start(s, mode, &d) != 0)
		goto out;
	if ((c = client_open(d.path)) == NULL)
		goto out;

	/* Empty queues first, on a heap that has not been used yet. */
	daemon_usage(&d, &u0, &rss0, &hwm);
	for (i = 0; i < n; i++) {
		queue_name(name, sizeof name, i);
		if (pushstage_queue_create(c, name, NULL, 0) != 0) {
			log_errorx("%s", pushstage_error(c));
			goto close;
		}
	}
	daemon_usage(&d, &u, &rss1, &hwm);
	r->per_queue = ((double)rss1 - (double)rss0) * 1024.0 / (double)n;

	t0 = clock_ns();
	if (fill(c, n, s->size, s->window) != 0)
		goto close;
	t1 = clock_ns();
	r->enq_rate = (double)n * 1e9 / (double)(t1 - t0);
	daemon_usage(&d, &u, &rss2, &hwm);
	r->per_event = ((double)rss2 - (double)rss1) * 1024.0 / (double)n -
	    (double)s->size;

	t0 = clock_ns();
	for (k = 0; k < MANY_CONSUMERS; k++) {
		a[k] = (struct drain_args){ d.path, b, n, k, MANY_CONSUMERS,
		    r->acks };
		pids[k] = spawn(drain_main, &a[k]);
	}
	if (board_wait(b, WAIT_MS(s), pids, MANY_CONSUMERS) != 0) {
		log_errorx("W7 %s: %llu of %llu events arrived", mode,
		    (unsigned long long)atomic_load(&b->received),
		    (unsigned long long)n);
		goto close;
	}
	r->rate = (double)n * 1e9 / (double)(atomic_load(&b->last_ns) - t0);
	daemon_usage(&d, &u, &rss2, &r->rss_peak_kb);
	usage_span(r, &u0, &u);
	r->exact = board_exact(b);
	error = 0;
close:
	pushstage_free(c);
out:
	reap(pids, MANY_CONSUMERS);
	daemon_stop(&d);
	board_free(b);
	return error;
}
