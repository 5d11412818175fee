/*
 * stats.c: the counter table (counters.c) as a STATS_REPLY frame, for the
 * daemon or one queue, and as a QUEUES_REPLY.
 */
#include <string.h>
#include <time.h>

#include "counters.h"
#include "producerd.h"

/* The largest one consumer's entry can be: id, and its 1..16-byte names. */
#define CONSUMER_ENTRY_MAX	(2 + PS_NAME_MAX + 8 * (1 + 16 + 8))
/* The texts after the consumers: "upstream", "map", "queue". */
#define TEXTS_MAX		(2 + 3 * (3 + 8 + PS_STAT_TEXT_MAX))

/* The daemon's counters and consumers (q NULL), or q's and its consumers. */
int
stats_encode(struct server *srv, struct nqueue *q, struct ps_buf *b,
    int version)
{
	const struct counter		*k;
	const struct consumer_counter	*f;
	struct conn			*c;
	size_t				 start, at, texts, i;
	uint16_t			 n = 0, ntexts = 0;
	uint32_t			 nconsumers = 0;

	if (ps_put_stats_begin(b, &start) != 0)
		return -1;
	for (i = 0; i < ncounters; i++) {
		k = &counters[i];
		if (!counter_shown(srv, q, k))
			continue;
		if (ps_put_stat(b, k->name, counter_value(srv, q, k)) != 0)
			return -1;
		n++;
	}

	/* As many consumers as fit in one frame; "consumers" has them all. */
	if (ps_put_stats_consumers(b, &at) != 0)
		return -1;
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE ||
		    (q != NULL && c->q != q))
			continue;
		if (b->len - start - PS_HDR_LEN + CONSUMER_ENTRY_MAX +
		    TEXTS_MAX > srv->max_frame)
			break;
		if (ps_put_stats_consumer(b, c->name, strlen(c->name),
		    (uint8_t)nconsumer_counters) != 0)
			return -1;
		for (i = 0; i < nconsumer_counters; i++) {
			f = &consumer_counters[i];
			if (ps_put_stat(b, f->name, consumer_value(c, f)) != 0)
				return -1;
		}
		nconsumers++;
	}
	ps_put_stats_end(b, start, n, at, nconsumers);
	if (version < 2)
		return 0;
	if (ps_put_stats_texts(b, &texts) != 0)
		return -1;
	if (srv->up.path != NULL) {
		if (ps_put_stat_text(b, "upstream", srv->up.path) != 0)
			return -1;
		ntexts++;
	}
	if (srv->map.cmd != NULL) {
		if (ps_put_stat_text(b, "map", srv->map.cmd) != 0)
			return -1;
		ntexts++;
	}
	if (q != NULL) {
		if (ps_put_stat_text(b, "queue", q->name) != 0)
			return -1;
		ntexts++;
	}
	ps_put_stats_texts_end(b, start, texts, ntexts);
	return 0;
}

/* The queue rows a queue's entry carries, and the room they take. */
static size_t
queue_rows(void)
{
	size_t	 i, n = 0;

	for (i = 0; i < ncounters; i++) {
		if (counters[i].scope == SCOPE_QUEUE)
			n++;
	}
	return n;
}

/*
 * QUEUES_REPLY: from the start-th queue (oldest first) as many as fit in
 * one frame, each with its counters.
 */
int
stats_queues(struct server *srv, struct ps_buf *b, uint32_t from)
{
	const struct counter	*k;
	struct nqueue		*q;
	size_t			 start, i, rows = queue_rows(), entry;
	uint32_t		 at = 0, n = 0;

	/* An entry: its name, nfields, and each row's name and value. */
	entry = 2 + PS_QUEUE_MAX + rows * (1 + 32 + 8);
	if (ps_put_queues_begin(b, &start) != 0)
		return -1;
	TAILQ_FOREACH(q, &srv->queues, entry) {
		if (at++ < from)
			continue;
		if (b->len - start - PS_HDR_LEN + entry > srv->max_frame)
			break;
		if (ps_put_queue_entry(b, q->name, q->len, (uint8_t)rows) != 0)
			return -1;
		for (i = 0; i < ncounters; i++) {
			k = &counters[i];
			if (k->scope == SCOPE_QUEUE && ps_put_stat(b, k->name,
			    counter_value(srv, q, k)) != 0)
				return -1;
		}
		n++;
	}
	ps_put_queues_end(b, start, srv->nqueues, n);
	return 0;
}
