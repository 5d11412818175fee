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

/*
 * The daemon's counters and consumers (g NULL), or a group's (a queue's:
 * its shared group's) with its queue's, and its consumers.
 */
int
stats_encode(struct server *srv, struct qgroup *g, struct ps_buf *b,
    int version)
{
	const struct counter		*k;
	const struct consumer_counter	*f;
	struct conn			*c;
	struct gpath			 gp;
	size_t				 start, at, texts, i;
	uint16_t			 n = 0, ntexts = 0;
	uint32_t			 nconsumers = 0;

	if (ps_put_stats_begin(b, &start) != 0)
		return -1;
	for (i = 0; i < ncounters; i++) {
		k = &counters[i];
		if (!counter_shown(srv, g, k))
			continue;
		if (ps_put_stat(b, k->name, counter_value(srv, g, k)) != 0)
			return -1;
		n++;
	}

	/* As many consumers as fit in one frame; "consumers" has them all. */
	if (ps_put_stats_consumers(b, &at) != 0)
		return -1;
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE ||
		    (g != NULL && c->g != g))
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
	if (g != NULL) {
		if (ps_put_stat_text(b, "queue", groups_path(g, &gp)) != 0)
			return -1;
		ntexts++;
	}
	ps_put_stats_texts_end(b, start, texts, ntexts);
	return 0;
}

/* The rows a group's entry carries, and the room they take. */
static size_t
group_rows(void)
{
	size_t	 i, n = 0;

	for (i = 0; i < ncounters; i++) {
		if (counters[i].scope != SCOPE_SERVER)
			n++;
	}
	return n;
}

/* Groups in all the queues: QUEUES_REPLY's entries. */
static uint32_t
ngroups(const struct server *srv)
{
	const struct nqueue	*q;
	uint32_t		 n = 0;

	TAILQ_FOREACH(q, &srv->queues, entry)
		n += q->ngroups;
	return n;
}

/*
 * QUEUES_REPLY: one entry per group of each queue ("QUEUE" for a shared
 * group, "QUEUE/GROUP"), queues oldest first, from the start-th entry as
 * many as fit in one frame, each with its counters and its queue's.
 */
int
stats_queues(struct server *srv, struct ps_buf *b, uint32_t from)
{
	const struct counter	*k;
	struct nqueue		*q;
	struct qgroup		*g;
	struct gpath		 gp;
	size_t			 start, i, rows = group_rows(), entry;
	uint32_t		 at = 0, n = 0;

	/* An entry: its name, nfields, and each row's name and value. */
	entry = 2 + PS_PATH_MAX + rows * (1 + 32 + 8);
	if (ps_put_queues_begin(b, &start) != 0)
		return -1;
	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			if (at++ < from)
				continue;
			if (b->len - start - PS_HDR_LEN + entry >
			    srv->max_frame)
				goto end;
			(void)groups_path(g, &gp);
			if (ps_put_queue_entry(b, gp.s, strlen(gp.s),
			    (uint8_t)rows) != 0)
				return -1;
			for (i = 0; i < ncounters; i++) {
				k = &counters[i];
				if (k->scope != SCOPE_SERVER &&
				    ps_put_stat(b, k->name,
				    counter_value(srv, g, k)) != 0)
					return -1;
			}
			n++;
		}
	}
end:
	ps_put_queues_end(b, start, ngroups(srv), n);
	return 0;
}
