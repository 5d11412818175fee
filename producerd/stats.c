/*
 * stats.c: the counter table (counters.c) as a STATS_REPLY frame, for the
 * daemon or one queue, and as a QUEUES_REPLY.
 */
#include <string.h>
#include <time.h>

#include "counters.h"
#include "producerd.h"

/* A consumer's text: the queue (and group) it takes events from. */
#define CONSUMER_QUEUE		"consumer_queue"

/* Bytes a stat (name, value) and a text (name, length, value) take. */
#define STAT_SIZE(name)		(1 + strlen(name) + 8)
#define TEXT_SIZE(name, v)	(1 + strlen(name) + 2 + strlen(v))

/* The bytes c's entry takes, and with version 2 on its queue's text. */
static size_t
consumer_size(const struct conn *c, const char *path, int version)
{
	size_t	 i, n = 1 + strlen(c->name) + 1;

	for (i = 0; i < nconsumer_counters; i++)
		n += STAT_SIZE(consumer_counters[i].name);
	if (version >= 2)
		n += TEXT_SIZE(CONSUMER_QUEUE, path);
	return n;
}

/*
 * The daemon's counters and consumers (g NULL), or a group's (a queue's:
 * its shared group's) with its queue's, and its consumers.  Version 2 on,
 * texts follow: a stage's "upstream" and "map", a queue's "queue", then
 * one "consumer_queue" for each consumer listed, in the same order.
 * Consumers are listed while they fit in max_frame with the texts, whose
 * room is counted exactly: a frame at the smallest max_frame still lists
 * them.
 */
int
stats_encode(struct server *srv, struct qgroup *g, struct ps_buf *b,
    int version)
{
	const struct counter		*k;
	const struct consumer_counter	*f;
	struct conn			*c;
	struct gpath			 gp, cp;
	const char			*texts[3][2];
	size_t				 start, at, at_texts, room = 0, i, t;
	size_t				 ntexts = 0, listed = 0;
	uint16_t			 n = 0;
	uint32_t			 nconsumers = 0;

	if (version >= 2) {
		if (srv->up.path != NULL) {
			texts[ntexts][0] = "upstream";
			texts[ntexts++][1] = srv->up.path;
		}
		if (srv->map.cmd != NULL) {
			texts[ntexts][0] = "map";
			texts[ntexts++][1] = srv->map.cmd;
		}
		if (g != NULL) {
			texts[ntexts][0] = "queue";
			texts[ntexts++][1] = groups_path(g, &gp);
		}
		room = 2;
		for (t = 0; t < ntexts; t++)
			room += TEXT_SIZE(texts[t][0], texts[t][1]);
	}

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
		(void)groups_path(c->g, &cp);
		if (b->len - start - PS_HDR_LEN + room +
		    consumer_size(c, cp.s, version) > srv->max_frame ||
		    ntexts + nconsumers + 1 > UINT16_MAX)
			break;
		if (ps_put_stats_consumer(b, c->name, strlen(c->name),
		    (uint8_t)nconsumer_counters) != 0)
			return -1;
		for (i = 0; i < nconsumer_counters; i++) {
			f = &consumer_counters[i];
			if (ps_put_stat(b, f->name, consumer_value(c, f)) != 0)
				return -1;
		}
		if (version >= 2)
			room += TEXT_SIZE(CONSUMER_QUEUE, cp.s);
		nconsumers++;
	}
	ps_put_stats_end(b, start, n, at, nconsumers);
	if (version < 2)
		return 0;
	if (ps_put_stats_texts(b, &at_texts) != 0)
		return -1;
	for (t = 0; t < ntexts; t++) {
		if (ps_put_stat_text(b, texts[t][0], texts[t][1]) != 0)
			return -1;
	}
	/* The consumers' queues, in the order of their entries. */
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (listed == nconsumers)
			break;
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE ||
		    (g != NULL && c->g != g))
			continue;
		if (ps_put_stat_text(b, CONSUMER_QUEUE,
		    groups_path(c->g, &cp)) != 0)
			return -1;
		listed++;
	}
	ps_put_stats_texts_end(b, start, at_texts, (uint16_t)(ntexts +
	    nconsumers));
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

/*
 * TASK_STATS_REPLY: group g's counts per task name (tasks.h), from the
 * from-th row as many as fit in one frame, each with the columns of the
 * task counter table by name.  Rows are never let go while the group
 * lives, so a client pages on with from + count.
 */
int
stats_tasks(struct server *srv, const struct qgroup *g, struct ps_buf *b,
    uint32_t from)
{
	const struct tasks	*t = &g->d.tasks;
	const struct task_row	*r;
	size_t			 start, i, entry;
	uint32_t		 at, n = 0, total = tasks_count(t);

	if (ps_put_task_stats_begin(b, &start) != 0)
		return -1;
	for (at = from; at < total; at++) {
		r = tasks_at(t, at);
		entry = 2 + r->nlen;
		for (i = 0; i < ntask_counters; i++)
			entry += STAT_SIZE(task_counters[i].name);
		if (b->len - start - PS_HDR_LEN + entry > srv->max_frame)
			break;
		if (ps_put_task_entry(b, r->name, r->nlen,
		    (uint8_t)ntask_counters) != 0)
			return -1;
		for (i = 0; i < ntask_counters; i++) {
			if (ps_put_stat(b, task_counters[i].name,
			    task_value(r, &task_counters[i])) != 0)
				return -1;
		}
		n++;
	}
	ps_put_task_stats_end(b, start, total, n);
	return 0;
}
