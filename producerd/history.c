/*
 * history.c: the last ten minutes of each queue, for the dashboard's
 * sparklines: every HISTORY_MS its shared group's depth and its enqueue,
 * delivery and ack rates over that time go in a ring of HISTORY_SAMPLES
 * per queue.  Kept only while --http serves them; 1,000 queues cost one
 * pass every 10 s and 1 KiB each.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "producerd.h"

static uint32_t
per_second(uint64_t now, uint64_t then)
{
	uint64_t	 r = (now - then) * 1000 / HISTORY_MS;

	return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* One sample of q, the first only setting where the rates count from. */
static void
sample(struct nqueue *q)
{
	struct qhistory	*h = q->history;
	struct qgroup	*g = TAILQ_FIRST(&q->groups);
	uint32_t	 i;

	if (g == NULL)
		return;
	if (h == NULL) {
		if ((h = calloc(1, sizeof *h)) == NULL)
			return;		/* no sparkline; nothing else lost */
		q->history = h;
	} else {
		i = h->next;
		h->queued[i] = g->d.queue.count > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)g->d.queue.count;
		h->enqueue_rate[i] = per_second(g->d.counts.enqueued_total,
		    h->enqueued_then);
		h->deliver_rate[i] = per_second(g->d.counts.delivered_total,
		    h->delivered_then);
		h->ack_rate[i] = per_second(g->d.counts.acked_total,
		    h->acked_then);
		h->next = (i + 1) % HISTORY_SAMPLES;
		if (h->n < HISTORY_SAMPLES)
			h->n++;
	}
	/* A group made since (the lead dropped) starts from its own. */
	if (h->enqueued_then > g->d.counts.enqueued_total ||
	    h->delivered_then > g->d.counts.delivered_total ||
	    h->acked_then > g->d.counts.acked_total)
		h->n = h->next = 0;
	h->enqueued_then = g->d.counts.enqueued_total;
	h->delivered_then = g->d.counts.delivered_total;
	h->acked_then = g->d.counts.acked_total;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct nqueue	*q;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(q, &srv->queues, entry)
		sample(q);
}

int
history_start(struct server *srv)
{
	struct timeval	 tv;

	if ((srv->history_timer = event_new(srv->base, -1, EV_PERSIST,
	    on_tick, srv)) == NULL ||
	    event_add(srv->history_timer, ms_timeval(HISTORY_MS, &tv)) != 0)
		return -1;
	on_tick(-1, 0, srv);
	return 0;
}

void
history_stop(struct server *srv)
{
	if (srv->history_timer != NULL)
		event_free(srv->history_timer);
	srv->history_timer = NULL;
}

/* q's sample k, oldest first (k < h->n). */
uint32_t
history_at(const struct qhistory *h, const uint32_t *series, uint32_t k)
{
	return series[(h->next + HISTORY_SAMPLES - h->n + k) %
	    HISTORY_SAMPLES];
}
